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
