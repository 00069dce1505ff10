"""The r2rt study's analysis: the claims study's (verdicts, figures, report) extended by r2rt's
perplexity section on every language-model dataset of the sweep (:func:`.report.section`)."""

from __future__ import annotations

from pathlib import Path

from replication.analysis.output import Sweep
from replication.studies.claims.analysis import analyze as analyze_claims

from .report import section
from .tables import lm_datasets


def perplexity_section(sweep: Sweep, out: Path):
    """The extension: r2rt's section over the sweep's language-model datasets."""
    words = lm_datasets(sweep.runs)
    if not words:
        return "", {}
    return section(sweep.runs, sweep.curves, sweep.profiles, sweep.meta, out, words)


def analyze(sweep: Sweep, out: Path) -> list[dict]:
    return analyze_claims(sweep, out, extensions=(perplexity_section,))


def findings(results: Path) -> list[str]:
    """The README's lines: best validation perplexity against zero beside r2rt's, and the verdicts."""
    from replication.analysis.findings import by_verdict, effect, read
    from replication.analysis.fmt import pct

    from .tables import r2rt_pct

    ppl, v = read(results, "r2rt_perplexity"), read(results, "verdicts")
    lines = [f"- [`results/{results.name}/REPORT.md`](results/{results.name}/REPORT.md): best validation perplexity "
             "against zero, paired over seeds (r2rt's PTB value in brackets): "
             + ", ".join(f"{r.strategy} {effect(r.pct_vs_zero_paired, r.pct_ci_low, r.pct_ci_high)} "
                         f"(r2rt {pct(r2rt_pct(r.strategy))})" for r in ppl.itertuples() if r.strategy != "zero") + "."]
    main = v[~v["exploratory"].astype(bool)] if len(v) else v
    for claim in ("C1-generalize", "C2", "C3"):
        rows = main[main["claim"] == claim] if len(main) else main
        if len(rows):
            lines.append(f"  - **{claim}** (test loss, protocol v2): {by_verdict(rows)}.")
    return lines
