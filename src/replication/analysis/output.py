"""Where an analysis writes: its tables as CSV, its report, the commit and config it records. Shared by
every study (:mod:`replication.studies`); knows no study."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text

__all__ = ["AnalysisError", "Sweep", "git_commit", "notebook_dirs", "run_config", "write_report", "write_tables"]


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
    sweep_wall, config) for the report's setup."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    profiles: pd.DataFrame
    skipped: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
