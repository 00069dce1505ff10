"""The conditioned study under protocol v3: its five comparisons (:data:`.tables.COMPARISONS`) graded
in each task's own metric by the shared :mod:`replication.analysis.exploratory3`, and the plain
answer read from those grades."""

from __future__ import annotations

import pandas as pd

from replication.analysis import exploratory3 as X
from replication.analysis.paired3 import Pair

from .tables import COMPARISONS

PREFIX = "v3_conditioned"


def pairs_for(ds: str, labels: set[str]) -> list[Pair]:
    """The five comparisons, one Holm family per dataset (as under v2)."""
    return [Pair(f"{a} vs {b}", a, b, "lower", True, ds) for a, b, _ in COMPARISONS]


def tables(runs: pd.DataFrame, curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return X.tables(runs, curves, pairs_for, PREFIX)


def answer(t: dict[str, pd.DataFrame]) -> list[str]:
    """Per dataset: the v3 grades of encoder vs learned and encoder vs zero_warmup; "yes" when both are
    a relevant gain (beyond δ in the task's metric), "no" when either is worse or negligible, "a real
    gain, size not pinned down" when both are gains of another size, "undecided" otherwise."""
    table = t[f"{PREFIX}_comparisons"]
    lines = []
    for ds in sorted(table["dataset"].unique()) if len(table) else []:
        gl, el = X.grade_of(table, ds, "encoder", "learned")
        gw, ew = X.grade_of(table, ds, "encoder", "zero_warmup")
        both = {gl, gw}
        no = any(g is not None and (g.startswith("worse") or g == "negligible") for g in both)
        word = ("yes" if both == {"better, relevant"} else "no" if no else
                "a real gain, size not pinned down" if all(g and g.startswith("better") for g in both) else "undecided")
        lines.append(f"- **{ds}: {word}.** Encoder vs learned: {gl or 'not run'} {el}; "
                     f"encoder vs zero with warm-up: {gw or 'not run'} {ew}.")
    return lines or ["No answer: no dataset has the encoder and another arm finished for the same seed."]


def section(t: dict[str, pd.DataFrame]) -> str:
    return X.section(t, PREFIX, "v2's verdicts (δ = 1% of zero's loss on every task) stay below for comparison; "
                     "v3 was fixed after they had been seen (the claims study's report says why).")
