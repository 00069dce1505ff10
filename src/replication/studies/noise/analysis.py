"""The noise study's analysis (Q5: how large should the initial-state noise be?): the σ-grid tables of
:mod:`.tables`, three figures and REPORT.md (:mod:`.report`)."""

from __future__ import annotations

from pathlib import Path

from replication.analysis.output import Sweep, write_report, write_tables

from . import tables as N
from .report import figures, render, verdict_list


def analyze(sweep: Sweep, out: Path) -> list[dict]:
    """Write into ``out``: ``runs.csv``, ``curves.csv``, ``noise_grid.csv``, ``noise_best.csv``,
    ``noise_adaptive.csv``, ``figures/noise_vs_sigma.png``, ``figures/noise_vs_relative_sigma.png``,
    ``figures/adaptive_sigma.png`` and ``REPORT.md``; returns one verdict per σ > 0 grid point."""
    out = Path(out)
    t = N.tables(sweep.runs, sweep.curves)
    write_tables(out, runs=sweep.runs, curves=sweep.curves, noise_grid=t["grid"], noise_best=t["best"],
                 noise_adaptive=t["adaptive"])
    figs = figures(t, sweep.curves, out / "figures")
    write_report(out, render(t, {**sweep.meta, "runs": len(sweep.runs)}, figs, sweep.skipped))
    return verdict_list(t["grid"])
