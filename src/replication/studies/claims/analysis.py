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
from .v3 import answer_lines as v3_answer
from .v3 import section as v3_section
from .v3 import tables as v3_tables

# An extension adds a report section: (sweep, out) -> (markdown, {name: table}); its tables are written.
Extension = Callable[[Sweep, Path], "tuple[str, dict[str, pd.DataFrame]]"]


def earlier_table(out: Path, tag: str = "v1") -> pd.DataFrame | None:
    """An earlier run's verdicts for the report's appendix: ``<out>_<tag>/verdicts.csv`` when it exists."""
    path = out.with_name(f"{out.name}_{tag}") / "verdicts.csv"
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
    v3 = v3_tables(runs, curves, profiles)
    write_tables(out, **v3)
    figs = [p.name for p in all_figures(runs, curves, profiles, verdict, out / "figures", table, pool)]
    sections = []
    for extend in extensions:
        md, extra = extend(sweep, out)
        write_tables(out, **extra)
        sections.append(md)
    ctx = {"runs": runs, "curves": curves, "table": table, "verdicts": verdict, "regime": reg,
           "power": pw, "pooled": pool, "sensitivity": tables["sensitivity"],
           "side": tables["blog_side_by_side"], "meta": sweep.meta, "figures": figs, "skipped": sweep.skipped,
           "v1": earlier_table(Path(sweep.meta.get("out", out))),
           "v2_earlier": earlier_table(Path(sweep.meta.get("out", out)), "v2"), "extensions": sections,
           "v3": v3_section(v3, verdict), "v3_answer": v3_answer(v3)}
    write_report(out, render(ctx))
    return json.loads(verdict.to_json(orient="records"))


def findings(results: Path) -> list[str]:
    """The README's lines on a claims study's committed results (verdicts, pooled effects, power)."""
    from replication.analysis.findings import by_verdict, effect, read

    from .protocol import CLAIMS

    runs, v, pool, reg = (read(results, n) for n in ("runs", "verdicts", "pooled", "regime_power"))
    main = v[~v["exploratory"].astype(bool)]
    lines = [f"- [`results/{results.name}/REPORT.md`](results/{results.name}/REPORT.md): {len(runs)} runs, "
             f"{runs['dataset'].nunique()} datasets."]
    v3 = read(results, "v3_verdicts")
    if len(v3):
        v3 = v3[~v3["family"].astype(str).str.contains(r" \[", regex=True)]
        lines.append("  - Protocol v3 (δ in each task's own metric, curve-based regime gate):")
        lines += [f"    - **{claim}**: {by_verdict(g, verdict='grade')}." for claim, g in v3.groupby("claim", sort=False)]
    lines.append("  - Protocol v2 (δ = 1% of zero's loss; superseded by v3, kept for comparison):")
    for claim in CLAIMS:
        rows = main[main["claim"] == claim]
        if len(rows):
            lines.append(f"    - **{claim}**: {by_verdict(rows)}.")
    gen = pool[(pool["claim"] == "C1-generalize") & (pool["subset"] == "all")] if len(pool) else pool
    if len(gen):
        lines.append(f"    - Test-loss effect against zero pooled over {int(gen['k'].max())} datasets (% of zero's loss): "
                     + ", ".join(f"{r.a} {effect(r.estimate, r.ci_low, r.ci_high)}" for r in gen.itertuples()) + ".")
    if len(reg) and "mde_pct_test" in reg:
        lo, hi = reg["mde_pct_test"].min(), reg["mde_pct_test"].max()
        lines.append(f"    - Smallest detectable test-loss effect per dataset: {lo:.2f}% to {hi:.2f}% of zero's loss.")
    return lines
