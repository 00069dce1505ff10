"""The noise study's analysis (Q5: how large should the initial-state noise be?): the σ-grid tables of
:mod:`.tables`, three figures and REPORT.md (:mod:`.report`)."""

from __future__ import annotations

from pathlib import Path

from replication.analysis.output import Sweep, write_report, write_tables
from replication.analysis.sections import missing_section

from . import tables as N
from . import v3 as V3
from .report import figures, render, verdict_list


def analyze(sweep: Sweep, out: Path) -> list[dict]:
    """Write into ``out``: ``runs.csv``, ``curves.csv``, ``noise_grid.csv``, ``noise_best.csv``,
    ``noise_adaptive.csv``, ``figures/noise_vs_sigma.png``, ``figures/noise_vs_relative_sigma.png``,
    ``figures/adaptive_sigma.png`` and ``REPORT.md``; returns one verdict per σ > 0 grid point."""
    out = Path(out)
    t = N.tables(sweep.runs, sweep.curves)
    write_tables(out, runs=sweep.runs, curves=sweep.curves, noise_grid=t["grid"], noise_best=t["best"],
                 noise_adaptive=t["adaptive"])
    v3 = V3.tables(sweep.runs, sweep.curves)
    write_tables(out, **v3)
    figs = figures(t, sweep.curves, out / "figures")
    write_report(out, render(t, {**sweep.meta, "runs": len(sweep.runs)}, figs, sweep.skipped,
                             missing_section(sweep.runs), (V3.answer(v3), V3.section(v3))))
    return verdict_list(t["grid"])


def findings(results: Path) -> list[str]:
    """The README's lines: per family, the σ > 0 points better or worse than the family's σ = 0 end."""
    from replication.analysis.findings import read
    from replication.analysis.fmt import pct

    g = read(results, "noise_grid")
    lines = [f"- [`results/{results.name}/REPORT.md`](results/{results.name}/REPORT.md): "
             f"σ ∈ {{{', '.join(f'{s:g}' for s in sorted(g['sigma'].unique()))}}} on {g['dataset'].nunique()} datasets."]
    v3 = read(results, "v3_noise_comparisons")
    if len(v3):
        lines.append("  - Protocol v3 (δ in each task's own metric), σ points by grade against their family's σ = 0 end:")
        for claim, c in v3.groupby("claim", sort=False):
            parts = [f"{grade}: " + ", ".join(f"{r.dataset} σ={r.sigma:g}" for r in h.itertuples())
                     for grade, h in c.groupby("grade", sort=False)]
            lines.append(f"    - **{claim}**: " + "; ".join(parts) + ".")
        lines.append("  - Protocol v2 (δ = 1% of zero's loss; superseded by v3, kept for comparison):")
    for fam, ref in N.FAMILIES.items():
        pts = g[(g["family"] == fam) & (g["sigma"] > 0)]
        col = f"vs_{ref}"
        parts = []
        for verdict in ("better", "worse", "negligible", "inconclusive"):
            hit = pts[pts[f"{col}_verdict"] == verdict]
            if verdict in ("better", "worse"):
                text = ", ".join(f"{r.dataset} σ={r.sigma:g} ({pct(getattr(r, f'{col}_pct'))})" for r in hit.itertuples())
                parts.append(f"{verdict}: {text or 'none'}")
            else:
                parts.append(f"{verdict}: {len(hit)} of {len(pts)} points")
        lines.append(f"{'    ' if len(v3) else '  '}- **{fam}** against {ref}: " + "; ".join(parts) + ".")
    return lines
