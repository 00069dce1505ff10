"""The claims study's analysis (C1–C3, H4, Q5's adaptive row) under protocol v2: every comparison, the
verdicts, their sensitivity to δ, regime and power, the pooled estimates, the blog side by side,
figures and REPORT.md. Another study extends it by passing ``extensions`` (e.g. r2rt's perplexity
section)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from replication.analysis.output import Sweep, write_report, write_tables

from .claims import comparisons, sensitivity, verdicts
from .figures import all_figures
from .report import render
from .summaries import blog_side_by_side, pooled, power, regime

# An extension adds a report section: (sweep, out) -> (markdown, {name: table}); its tables are written.
Extension = Callable[[Sweep, Path], "tuple[str, dict[str, pd.DataFrame]]"]


def v1_table(out: Path) -> pd.DataFrame | None:
    """v1's verdicts for the report's appendix: ``<out>_v1/verdicts.csv`` when it exists."""
    path = out.with_name(out.name + "_v1") / "verdicts.csv"
    return pd.read_csv(path) if path.exists() else None


def analyze(sweep: Sweep, out: Path, extensions: Sequence[Extension] = ()) -> list[dict]:
    """Write into ``out``: ``runs.csv``, ``curves.csv``, ``profiles.csv``, ``comparisons.csv``,
    ``verdicts.csv``, ``sensitivity.csv``, ``regime_power.csv``, ``pooled.csv``,
    ``blog_side_by_side.csv``, ``figures/*.png`` and ``REPORT.md`` (and each extension's tables);
    returns the verdict records."""
    out = Path(out)
    runs, curves, profiles = sweep.runs, sweep.curves, sweep.profiles
    write_tables(out, runs=runs, curves=curves, profiles=profiles)
    reg = regime(runs)
    table = comparisons(runs)
    verdict = verdicts(table, reg)
    pool = pooled(table, reg)
    pw = power(runs, table)
    tables = {"comparisons": table, "verdicts": verdict, "sensitivity": sensitivity(runs, reg),
              "regime_power": reg.merge(pw, on="dataset", how="left"), "pooled": pool,
              "blog_side_by_side": blog_side_by_side(runs)}
    write_tables(out, **tables)
    figs = [p.name for p in all_figures(runs, curves, profiles, verdict, out / "figures", table, pool)]
    sections = []
    for extend in extensions:
        md, extra = extend(sweep, out)
        write_tables(out, **extra)
        sections.append(md)
    ctx = {"runs": runs, "curves": curves, "table": table, "verdicts": verdict, "regime": reg,
           "power": pw, "pooled": pool, "sensitivity": tables["sensitivity"],
           "side": tables["blog_side_by_side"], "meta": sweep.meta, "figures": figs, "skipped": sweep.skipped,
           "v1": v1_table(out), "extensions": sections}
    write_report(out, render(ctx))
    return json.loads(verdict.to_json(orient="records"))
