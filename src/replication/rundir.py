"""A run's directory: where it is, whether it is finished, its lock, and taking it over for a run.

A directory never holds records of two run keys: a run with a new key removes the old summary,
metrics and checkpoint before it writes anything, and says so in one line when a finished run
(or a killed one) of another config is what it replaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .io import atomic_write_text
from .records import CHECKPOINT, METRICS, SUMMARY, RunState, Summary, check_summary

CONFIG = "config.yaml"
LOCK = ".lock"


def default_run_dir(cfg: DictConfig, data_name: str) -> Path:
    """``<sweep_dir>/<paths.swept><data>/<label>/seed=<k>``, the layout of Hydra's default dirs."""
    return Path(cfg.paths.sweep_dir) / f"{cfg.paths.swept}{data_name}" / str(cfg.init_state.label) / f"seed={cfg.seed}"


def resolve_run_dir(cfg: DictConfig, data_name: str, run_dir: str | Path | None = None) -> Path:
    """``run_dir`` if given, else Hydra's output directory inside a Hydra job, else the default."""
    if run_dir is not None:
        return Path(run_dir).absolute()
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return default_run_dir(cfg, data_name).absolute()


def finished(run_dir: Path, key: str) -> Summary | None:
    """The summary of a finished run with this key in ``run_dir``, else None (reads only)."""
    done = _summary(run_dir)
    return done if done is not None and done.get("config_hash") == key else None


def _summary(run_dir: Path) -> dict | None:
    try:
        done = json.loads((run_dir / SUMMARY).read_text())
        check_summary(done)
    except (OSError, ValueError, AttributeError):  # AttributeError: JSON that is not an object
        return None
    return done


@contextmanager
def run_lock(run_dir: Path, log=print) -> Iterator[None]:
    """Hold ``run_dir``'s lock (creating the directory): a second process training the same run,
    e.g. an identical sweep started twice, waits here with one ``[wait]`` line instead of training
    it again. An OS file lock (``filelock``: ``flock``): the kernel drops it when its process dies,
    even by ``kill -9``, so no stale lock is left; the empty lock file stays and blocks no one."""
    from filelock import FileLock, Timeout

    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"[wait] {run_dir}: another process is training this run; waiting for it")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def open_run_dir(run_dir: Path, key: str, cfg: DictConfig, log=print) -> None:
    """Create the run directory, remove another key's records (one ``[replace]`` line when they
    were a run's), write ``config.yaml`` headed by the key."""
    run_dir.mkdir(parents=True, exist_ok=True)
    replaced = _clear_stale(run_dir, key)
    if replaced:
        if replaced != UNREADABLE:
            replaced += f" of another config ({config_changes(run_dir / CONFIG, cfg)})"
        log(f"[replace] {run_dir}: {replaced} is replaced by this run")
    atomic_write_text(run_dir / CONFIG, f"# config_hash: {key}\n" + OmegaConf.to_yaml(cfg, resolve=True))


UNREADABLE = "an unreadable checkpoint"


def _clear_stale(run_dir: Path, key: str) -> str | None:
    """Remove the records of another key, the summary first (its presence means "finished");
    returns what they were ("a finished run", "a killed run", :data:`UNREADABLE`) or None when
    nothing was replaced."""
    old = _summary(run_dir)
    replaced = f"a {old['status']} run" if old is not None and old.get("config_hash") != key else None
    (run_dir / SUMMARY).unlink(missing_ok=True)
    ckpt = run_dir / CHECKPOINT
    if ckpt.exists():
        try:
            same = RunState.load(ckpt).config_hash == key
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is as stale as a foreign one
            same, replaced = False, replaced or UNREADABLE
        if same:
            return replaced  # a killed run of this key: its metrics belong to it and it resumes
        ckpt.unlink()
        replaced = replaced or "a killed run"
    (run_dir / METRICS).unlink(missing_ok=True)
    return replaced


def config_changes(old_path: Path, cfg: DictConfig, limit: int = 3) -> str:
    """``"trainer.lr 0.003 -> 0.01"``: the keys whose values differ between the config written in
    ``old_path`` and ``cfg`` (at most ``limit`` named); "the data changed" when none does."""
    try:
        old = _flat(OmegaConf.to_container(OmegaConf.load(old_path)))
    except Exception:  # noqa: BLE001 - missing or not YAML: OmegaConf raises several types
        return "its config.yaml is unreadable"
    new = _flat(OmegaConf.to_container(cfg, resolve=True))
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k)
                  and k.split(".")[0] not in ("logger", "paths", "sweep_name", "hydra"))
    if not keys:
        return "same config, the data changed"
    named = ", ".join(f"{k} {old.get(k)} -> {new.get(k)}" for k in keys[:limit])
    return named + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _flat(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix[:-1]: d}
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out
