"""The conditioned study's analysis (exploratory): does an h0 inferred from a sequence's first steps
(``encoder``) beat a learned h0, or a warm-up? Its comparisons and checks (:mod:`.tables`), two
figures and REPORT.md (:mod:`.report`)."""

from __future__ import annotations

from pathlib import Path

from replication.analysis.output import Sweep, write_report, write_tables
from replication.studies.claims.summaries import regime

from .report import effects_figure, positions_figure, render
from .tables import answer, comparisons, scoring, verdict_records, warmup_check
from .v3 import answer as v3_answer
from .v3 import section as v3_section
from .v3 import tables as v3_tables


def analyze(sweep: Sweep, out: Path) -> list[dict]:
    """Write into ``out``: ``runs.csv`` (collect's columns + :data:`.tables.SCORING_COLUMNS`),
    ``curves.csv``, ``profiles.csv``, ``conditioned_comparisons.csv``, ``conditioned_regime.csv`` (the
    claims study's regime table without its gate column ``in_regime``), ``conditioned_warmup_check.csv``,
    ``figures/conditioned_positions.png``, ``figures/conditioned_effects.png`` and ``REPORT.md``;
    returns one verdict per comparison."""
    out = Path(out)
    runs = scoring(sweep.runs)
    # regime()'s in_regime column is protocol v2's gate, which exploratory comparisons do not have.
    table, reg, check = comparisons(runs), regime(runs).drop(columns="in_regime"), warmup_check(runs)
    write_tables(out, runs=runs, curves=sweep.curves, profiles=sweep.profiles, conditioned_comparisons=table,
                 conditioned_regime=reg, conditioned_warmup_check=check)
    v3 = v3_tables(runs, sweep.curves)
    write_tables(out, **v3)
    figs = [positions_figure(sweep.profiles, runs, out / "figures"), effects_figure(table, out / "figures")]
    ctx = {"runs": runs, "profiles": sweep.profiles, "table": table, "regime": reg, "check": check,
           "answer": answer(table, check), "figures": [f.name for f in figs if f is not None], "meta": sweep.meta,
           "skipped": sweep.skipped, "v3": v3_section(v3), "v3_answer": v3_answer(v3)}
    write_report(out, render(ctx))
    return verdict_records(table)


def findings(results: Path) -> list[str]:
    """The README's lines: each comparison's v3 grade per dataset, then v2's verdict (exploratory)."""
    from replication.analysis.findings import by_verdict, read

    lines = [f"- [`results/{results.name}/REPORT.md`](results/{results.name}/REPORT.md) (exploratory; every arm "
             "scored on the same steps):"]
    v3 = read(results, "v3_conditioned_comparisons")
    if len(v3):
        lines.append("  - Protocol v3 (δ in each task's own metric):")
        lines += [f"    - **{a} vs {b}**: {by_verdict(g, verdict='grade')}."
                  for (a, b), g in v3.groupby(["a", "b"], sort=False)]
    t = read(results, "conditioned_comparisons")
    lines.append("  - Protocol v2 (δ = 1% of zero's loss; superseded by v3, kept for comparison):" if len(v3) else "")
    ind = "    " if len(v3) else "  "
    lines += [f"{ind}- **{a} vs {b}**: {by_verdict(g)}." for (a, b), g in t.groupby(["a", "b"], sort=False)]
    return [x for x in lines if x]
