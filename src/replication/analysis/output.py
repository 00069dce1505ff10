"""Where an analysis writes: its tables as CSV, its report, the commit and config it records. Shared by
every study (:mod:`replication.studies`); knows no study."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text

__all__ = ["MARKER", "AnalysisError", "Sweep", "git_commit", "notebook_dirs", "run_config", "staged", "write_report",
           "write_tables"]

MARKER = "COMMAND.txt"  # written into every results folder: a folder without it is not one to replace


class AnalysisError(ValueError):
    """Why a sweep cannot be analysed, or its results not written, in one line (the command line
    prints it as ``error: <line>`` and exits with status 2)."""


def git_commit(cwd: Path | None = None) -> str:
    """The checkout's commit (12 hex digits), ``-dirty`` when code outside ``results/`` and
    ``notebooks/`` differs from it, ``unknown`` outside a git checkout."""
    cwd = cwd or Path(__file__).parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True).stdout.strip()
        # The outputs themselves (results/, notebooks/) are tracked and rewritten by this very run:
        # only a change to anything else makes the code "dirty".
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(exclude,top)results", ":(exclude,top)notebooks"], cwd=cwd,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_config(run_dirs: list[Path]) -> dict:
    """The resolved config of the first run whose ``config.yaml`` reads (for a report's setup)."""
    from omegaconf import OmegaConf

    for d in run_dirs:
        try:
            cfg = OmegaConf.to_container(OmegaConf.load(Path(d) / "config.yaml"), resolve=True)
        except Exception:  # noqa: BLE001 - the report's setup line is optional; any unreadable config is skipped
            continue
        if isinstance(cfg, dict):
            return cfg
    return {}


def write_tables(out: str | Path, **tables: pd.DataFrame) -> None:
    """Each DataFrame as ``<out>/<name>.csv`` (6 significant digits), written atomically."""
    for name, df in tables.items():
        atomic_write_text(Path(out) / f"{name}.csv", df.to_csv(index=False, float_format="%.6g"))


def write_report(out: str | Path, text: str) -> None:
    """``<out>/REPORT.md``, written atomically."""
    atomic_write_text(Path(out) / "REPORT.md", text)


@contextmanager
def staged(out: str | os.PathLike) -> Iterator[Path]:
    """A new, empty folder beside ``out`` to write a whole analysis into; when the block ends
    without an exception it replaces ``out`` in two renames, so ``out`` always holds one analysis,
    complete (a killed analysis leaves ``out`` as it was, and a ``.<name>.partial-<pid>`` folder that
    the next analysis into ``out`` removes). Raises :class:`AnalysisError` in one line when ``out`` is
    a file, holds files without :data:`MARKER` (not a results folder: it is never replaced), or
    cannot be written."""
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"{out} is a file, not a results folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise AnalysisError(f"{out} holds files but no {MARKER}, so it is not a results folder to replace: "
                            "give a new or empty folder")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        # a read-only folder says "keep this": never swap it out, even where the parent would allow it
        raise AnalysisError(f"cannot write results into {out}: the folder is read-only")
    above = next(p for p in out.parents if p.exists())
    if not above.is_dir():
        raise AnalysisError(f"cannot write results into {out}: {above} is a file")
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _recover(out)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as e:
        raise AnalysisError(f"cannot write results into {out}: {e.strerror or e}") from None
    try:
        yield tmp
        _swap(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AnalysisError(f"cannot write results into {out}: {e.strerror or e}"
                            + (f" ({e.filename})" if e.filename else "")) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, out: Path) -> None:
    """Put the finished folder ``new`` where ``out`` is; the old ``out`` is removed afterwards."""
    if not out.exists():
        os.rename(new, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _recover(out: Path) -> None:
    """Clean up after analyses into ``out`` that were killed: remove their partial folders, and put
    back a previous ``out`` that a kill between :func:`_swap`'s two renames left aside."""
    for p in sorted(out.parent.glob(f".{out.name}.*-*")):
        kind, _, pid = p.name[len(out.name) + 2:].rpartition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            os.rename(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def notebook_dirs(default_results: str = "../results/default") -> tuple[Path, Path]:
    """``(results, figures)`` for a notebook: ``$INITSTATE_RESULTS`` (default: the committed default
    results) and where its figures go — ``$INITSTATE_NB_FIGS`` if set, the results' own ``figures/``
    only when ``INITSTATE_NB_REFRESH=1`` asks to refresh them, else ``_output/`` beside the notebook,
    so that running a notebook never rewrites committed files."""
    results = Path(os.environ.get("INITSTATE_RESULTS", default_results))
    if os.environ.get("INITSTATE_NB_FIGS"):
        return results, Path(os.environ["INITSTATE_NB_FIGS"])
    if os.environ.get("INITSTATE_NB_REFRESH") == "1":
        return results, results / "figures"
    return results, Path("_output")


@dataclass
class Sweep:
    """What a study's analysis reads: :func:`~replication.analysis.collect.collect`'s tables of one
    sweep, the files it skipped (``(path, reason)``) and ``meta`` (study, command, commit, sweep,
    sweep_wall, config) for the report's setup, and ``out``: the results folder the analysis will
    become (it writes into a :func:`staged` folder beside it, so sibling folders are found from ``out``)."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    profiles: pd.DataFrame
    skipped: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
