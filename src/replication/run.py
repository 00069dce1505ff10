"""One training run from a resolved config: validate, skip if done, resume, train, record.

A run's records live in ONE directory: Hydra's output directory when launched through Hydra
(``hydra.run.dir`` / ``hydra.sweep.dir``+``subdir``; by default
``<sweeps_root>/<sweep_name>/<data>/<label>/seed=<k>``), else the same default path. Written
atomically there: ``config.yaml`` (resolved, headed by the run key), ``metrics.jsonl`` (one line
per epoch), ``summary.json`` (written last: its presence with a matching ``config_hash`` marks the
run finished), ``wandb/`` and, while running, ``checkpoint.pt`` (removed at the end) from which a
killed run resumes.

The run key hashes everything that determines the numbers: the config (minus where/how it is
logged) and the content of the data (:meth:`SequenceDataset.fingerprint`), so a rewritten data file
is a new run. A directory never holds records of two keys: a run with a new key removes the old
summary, metrics and checkpoint before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from .io import atomic_torch_save, atomic_write_json, atomic_write_text
from .model import SequenceModel, state_norms
from .schema import ConfigError, validate
from .tracking import make_tracker
from .trainer import make_optimizer, run_epoch, state_rms

__all__ = ["ConfigError", "build_model", "finished", "load_dataset", "train", "validate"]

# Keys that change where/how a run is logged but not what it computes.
NON_SEMANTIC = ("logger", "paths", "sweep_name")
NON_SEMANTIC_TRAINER = ("threads", "progress", "checkpoint", "checkpoint_every_s", "eval_batch_size")
# Options added after results were committed: at their off (default) value they leave a run's key
# unchanged, so finished runs of earlier sweeps stay finished.
OFF_VALUES = {"trainer": {"min_epochs": 0, "warmup": 0, "score_from": 0},
              "init_state": {"encoder_steps": 5, "encoder_hidden": 64}}
CLEAN_SUBSET_SEED = 0  # the train subset scored with the noise off: the same for every run
EVAL_CHUNK = 1000  # time steps per evaluation call in the stateful regime


def load_dataset(cfg: DictConfig):
    """Instantiate ``cfg.data``; a loader's error becomes one :class:`ConfigError` line instead of
    Hydra's multi-line "Error in call to target" block."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        dataset = instantiate(cfg.data)
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ConfigError(str(cause).strip().splitlines()[0]) from None
    validate_against_data(cfg, dataset)
    return dataset


def validate_against_data(cfg: DictConfig, dataset) -> None:
    """Model/task mismatches and empty splits that only the loaded dataset reveals."""
    if cfg.model.bidirectional and dataset.task != "classify":
        raise ConfigError(
            f"model.bidirectional=true needs a classify dataset, but {dataset.name} is {dataset.task}"
            f" ({dataset.regime}): a backward pass would see the targets; valid: model.bidirectional=false"
        )
    for split in ("train", "val", "test"):
        if dataset.split(split).total_steps == 0:
            # An empty split would score as loss 0.0 and model selection would always pick epoch 0.
            raise ConfigError(f"dataset {dataset.name}: the {split} split is empty; every run needs "
                              "train, val (model selection) and test (the endpoint) sequences")


def config_hash(cfg: DictConfig) -> str:
    """Hash of the config entries that determine the run's numbers (not where or how it is logged)."""
    c = OmegaConf.to_container(cfg, resolve=True)
    for k in NON_SEMANTIC:
        c.pop(k, None)
    for k in NON_SEMANTIC_TRAINER:
        c["trainer"].pop(k, None)
    for group, offs in OFF_VALUES.items():
        for k, off in offs.items():
            if c[group].get(k) == off:
                c[group].pop(k)
    c.pop("hydra", None)
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_key(cfg: DictConfig, dataset) -> str:
    """The run's identity: its config and the content of its data."""
    return hashlib.sha256(f"{config_hash(cfg)}|{dataset.fingerprint()}".encode()).hexdigest()[:16]


def build_model(cfg: DictConfig, dataset) -> SequenceModel:
    """The run's model; its weights depend on ``seed`` only, never on the strategy (paired seeds)."""
    if dataset.task == "lm":
        in_size = out_size = dataset.vocab_size
    elif dataset.task == "forecast":
        in_size = out_size = dataset.num_channels
    else:
        in_size, out_size = dataset.num_channels, dataset.num_classes
    s = cfg.init_state
    arch = dict(
        task=dataset.task, cell=cfg.model.cell, input_size=in_size, output_size=out_size,
        hidden_size=cfg.model.hidden_size, num_layers=cfg.model.num_layers,
        bidirectional=cfg.model.bidirectional, dropout=cfg.model.dropout,
        embedding_dim=cfg.model.embedding_dim,
    )
    torch.manual_seed(cfg.seed)
    reference = SequenceModel(**arch, init="zero")  # the seed's weights, identical for every strategy
    model = SequenceModel(
        **arch, init=s.name, noise_std=s.noise_std,
        init_mask=None if s.mask is None else list(s.mask),
        learned_init=s.learned_init, adaptive_decay=s.adaptive_decay,
        encoder_steps=s.encoder_steps, encoder_hidden=s.encoder_hidden,
    )
    model.load_state_dict(reference.state_dict(), strict=False)
    torch.manual_seed(cfg.seed + 1)  # the noise stream starts at the same point for every strategy
    return model


def default_run_dir(cfg: DictConfig, data_name: str) -> Path:
    return Path(cfg.paths.sweep_dir) / data_name / str(cfg.init_state.label) / f"seed={cfg.seed}"


def resolve_run_dir(cfg: DictConfig, data_name: str, run_dir: str | Path | None = None) -> Path:
    """``run_dir`` if given, else Hydra's output directory inside a Hydra job, else the default."""
    if run_dir is not None:
        return Path(run_dir).absolute()
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return default_run_dir(cfg, data_name).absolute()


def finished(run_dir: Path, key: str) -> dict | None:
    """The summary of a finished run with this key in ``run_dir``, else None (reads only)."""
    try:
        done = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) and done.get("config_hash") == key else None


def _clear_stale(run_dir: Path, key: str) -> None:
    """Remove the records of another key: the summary first (its presence means "finished")."""
    summary = run_dir / "summary.json"
    if summary.exists():
        summary.unlink()
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.exists():
        try:
            same = torch.load(ckpt, map_location="cpu", weights_only=False).get("config_hash") == key
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is as stale as a foreign one
            same = False
        if same:
            return  # a killed run of this key: its metrics belong to it and it resumes
        ckpt.unlink()
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(cfg: DictConfig, *, log=print, run_dir: str | Path | None = None) -> dict:
    """Train one run described by ``cfg`` and return its summary (also in ``summary.json``)."""
    validate(cfg)
    torch.set_num_threads(int(cfg.trainer.threads))
    dataset = load_dataset(cfg)
    run_dir = resolve_run_dir(cfg, dataset.name, run_dir)
    key = run_key(cfg, dataset)
    done = finished(run_dir, key)
    if done is not None:
        log(f"[skip] {run_dir} already finished ({done['status']})")
        return done
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale(run_dir, key)
    atomic_write_text(run_dir / "config.yaml", f"# config_hash: {key}\n" + OmegaConf.to_yaml(cfg, resolve=True))
    summary_path, ckpt_path = run_dir / "summary.json", run_dir / "checkpoint.pt"

    t = cfg.trainer
    device = resolve_device(str(t.device))
    model = build_model(cfg, dataset).to(device)
    optimizer = make_optimizer(t.optimizer, model.parameters(), t.lr, t.weight_decay)
    # Noise-free training loss (protocol v2): a fixed subset of train, no smaller than val.
    clean_split = dataset.subset("train", dataset.val.total_steps, CLEAN_SUBSET_SEED)
    history: list[dict] = []
    best: dict = {}
    start_epoch, bad_epochs, elapsed = 0, 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["config_hash"] == key:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            torch.set_rng_state(ck["rng"])
            history, best = ck["history"], ck["best"]
            start_epoch, bad_epochs, elapsed = ck["epoch"] + 1, ck["bad_epochs"], ck["elapsed"]
            log(f"[resume] {run_dir} from epoch {start_epoch}")

    name = f"{dataset.name}-{cfg.init_state.label}-{cfg.seed}"
    logger_cfg = OmegaConf.to_container(cfg.logger, resolve=True)
    logger_cfg["dir"] = logger_cfg.get("dir") or str(run_dir)
    tracker = make_tracker(
        logger_cfg, group=str(cfg.sweep_name), job_type=str(cfg.init_state.label), name=name,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    status, exit_code = "finished", 0
    bar = _progress(cfg, name, start_epoch)
    last_save = time.perf_counter()
    k, max_pos = int(t.early_k), max(int(t.max_position), int(t.early_k))
    try:
        for epoch in range(start_epoch, int(t.epochs)):
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(int(cfg.seed) * 100_003 + epoch)  # data order: seed only
            common = dict(tbptt=int(t.tbptt), device=device)
            tr = run_epoch(model, dataset, "train", int(t.batch_size), optimizer=optimizer, generator=gen,
                           grad_clip=float(t.grad_clip), skip=int(t.warmup), **common)
            if not tr.finite:
                status = "diverged"
                log(f"[diverged] {name}: non-finite training loss in epoch {epoch}")
                break
            # Evaluation carries the state through whole sequences anyway (no backward pass), so
            # long chunks give the same losses as tbptt-sized ones in far fewer Python steps.
            ev = dict(batch_size=int(t.eval_batch_size), max_position=max_pos, device=device,
                      tbptt=max(int(t.tbptt), EVAL_CHUNK), skip=max(int(t.warmup), int(t.score_from)))
            # The clean pass draws no noise (eval mode), so the global RNG is untouched by it.
            cl = run_epoch(model, dataset, clean_split, **ev)
            va = run_epoch(model, dataset, "val", **ev)
            improved = not best or va.loss < best["best_val_loss"]
            # Test is reported only at the best validation epoch, so it is evaluated only when
            # validation improves (evaluation is deterministic: the numbers are the same, ~1/6 less time).
            te = run_epoch(model, dataset, "test", **ev) if improved else None
            if not (cl.finite and va.finite and (te is None or te.finite)):
                status = "diverged"
                log(f"[diverged] {name}: non-finite evaluation loss in epoch {epoch}")
                break
            elapsed += time.perf_counter() - t0
            row = {
                "epoch": epoch, "train_loss": tr.loss, "train_loss_clean": cl.loss, "val_loss": va.loss,
                "gap": va.loss - cl.loss, "wall_time": elapsed, **state_norms(model),
            }
            if dataset.task == "classify":
                row.update(train_acc=tr.accuracy, train_acc_clean=cl.accuracy, val_acc=va.accuracy)
            else:
                row.update(val_early=va.early(k))
            if te is not None:
                row.update(test_loss=te.loss, **({"test_acc": te.accuracy} if dataset.task == "classify"
                                                 else {"test_early": te.early(k)}))
            history.append(row)
            if improved:
                best = {
                    "best_epoch": epoch, "best_val_loss": va.loss, "test_at_best": te.loss,
                    "train_at_best": tr.loss, "train_clean_at_best": cl.loss, "gap_at_best": va.loss - cl.loss,
                    "val_early_at_best": row.get("val_early"), "test_early_at_best": row.get("test_early"),
                    "position_profile": va.profile()[: int(t.max_position)],
                }
                if dataset.task == "classify":
                    best.update(val_acc_at_best=va.accuracy, test_acc_at_best=te.accuracy)
                bad_epochs = 0
            else:
                bad_epochs += 1
            atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            tracker.log({k_: v for k_, v in row.items() if k_ != "epoch" and v is not None}, step=epoch)
            # Saving is a sizeable share of a seconds-long run's time, so it is rate-limited.
            if t.checkpoint and time.perf_counter() - last_save >= float(t.checkpoint_every_s):
                last_save = time.perf_counter()
                atomic_torch_save(ckpt_path, {
                    "config_hash": key, "epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                    "history": history, "best": best, "bad_epochs": bad_epochs, "elapsed": elapsed,
                })
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{tr.loss:.4f}", val=f"{va.loss:.4f}")
            if int(t.early_stopping) > 0 and bad_epochs >= int(t.early_stopping) and len(history) >= int(t.min_epochs):
                status = "early_stopped"
                break
    except BaseException:
        exit_code = 1
        raise
    finally:
        if bar is not None:
            bar.close()
        if exit_code:
            tracker.finish(exit_code)
    # The typical size of the state (noise study, Q5), of the final model: seconds for these sizes.
    rms = (state_rms(model, dataset, "val", int(t.eval_batch_size), tbptt=EVAL_CHUNK, device=device)
           if history and status != "diverged" else {})
    summary = {
        "status": status, "diverged": status == "diverged", "config_hash": key,
        "data": dataset.name, "task": dataset.task, "regime": dataset.regime,
        "strategy": str(cfg.init_state.name), "label": str(cfg.init_state.label), "seed": int(cfg.seed),
        "noise_std": float(cfg.init_state.noise_std), "state_rms": rms, "epochs_run": len(history), "epochs_max": int(t.epochs), "early_k": k, "wall_time": elapsed,
        "sizes": dataset.sizes(), "final_train_loss": history[-1]["train_loss"] if history else None,
        "final_train_loss_clean": history[-1]["train_loss_clean"] if history else None, **best,
    }
    tracker.summary({k_: v for k_, v in summary.items() if k_ != "position_profile"})
    tracker.finish(0)
    atomic_write_json(summary_path, summary)
    ckpt_path.unlink(missing_ok=True)
    bv = summary.get("best_val_loss")
    log(f"[done] {name}: {status}, best val {bv:.4f} at epoch {summary.get('best_epoch')}, "
        f"test {summary.get('test_at_best'):.4f}, {elapsed:.1f} s" if bv is not None else
        f"[done] {name}: {status} before any epoch finished")
    return summary


def _progress(cfg: DictConfig, name: str, start: int):
    if not cfg.trainer.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(cfg.trainer.epochs), initial=start, desc=name, unit="epoch", leave=False, disable=None)
