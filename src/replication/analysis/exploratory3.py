"""Protocol v3 for a study of exploratory pairwise comparisons (the noise-scale and conditioned
studies): its graded comparisons in each task's own metric (:mod:`.paired3`), the curve-based
regime (:mod:`.regime_test`), power against zero (:mod:`.power3`), and the report section and plain
answer lines built from them. The study names its pairs (``pairs_for``); nothing here knows one."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import paired3 as P3
from . import power3, regime_test
from .fmt import table_md
from .protocol3 import DELTA, UNITS

PairsFor = Callable[[str, "set[str]"], "list[P3.Pair]"]  # (dataset, its labels) -> the pairs to compare


def comparisons(runs: pd.DataFrame, pairs_for: PairsFor) -> pd.DataFrame:
    """Every pair ``pairs_for`` names on every dataset, paired by seed on the task's primary v3
    endpoint and graded with Holm within each pair's family (:data:`.paired3.COLUMNS`)."""
    ok = P3.finished(runs)
    rows: list[dict] = []
    tasks = ok.groupby("dataset")["task"].first().to_dict() if len(ok) else {}
    for ds, task in sorted(tasks.items()):
        labels = set(ok.loc[ok["dataset"] == ds, "label"])
        rows += P3.pairwise(ok, ds, task, pairs_for(ds, labels))
    return P3.graded(rows, by=("family",))


def power_vs_zero(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`.power3.power_table` over each dataset's comparisons against zero (one family)."""
    z = table[(table["b"] == "zero") & (table["endpoint"] == "primary")] if len(table) else table
    return power3.power_table(z.assign(claim="vs zero", exploratory=False), claim="vs zero")


def tables(runs: pd.DataFrame, curves: pd.DataFrame, pairs_for: PairsFor, prefix: str) -> dict[str, pd.DataFrame]:
    """``{prefix}_comparisons``, ``{prefix}_regime``, ``{prefix}_power`` (named as their CSVs)."""
    t = comparisons(runs, pairs_for)
    return {f"{prefix}_comparisons": t, f"{prefix}_regime": regime_test.classify(curves, runs),
            f"{prefix}_power": power_vs_zero(t)}


def _effect(r) -> str:
    unit = "% perplexity" if r.task == "lm" else r.unit
    return f"{r.est_display:+.3g} [{r.ci_low_display:+.3g}, {r.ci_high_display:+.3g}] {unit}"


def grade_of(table: pd.DataFrame, dataset: str, a: str, b: str) -> tuple[str | None, str]:
    """``(grade, "estimate [interval] unit")`` of a − b on ``dataset``; ``(None, "")`` when not run."""
    r = table[(table["dataset"] == dataset) & (table["a"] == a) & (table["b"] == b)] if len(table) else table
    return (None, "") if not len(r) else (r["grade"].iloc[0], _effect(r.iloc[0]))


def section(t: dict[str, pd.DataFrame], prefix: str, v2_note: str) -> str:
    """The report's protocol v3 section: method pointer, every graded comparison, regime, power."""
    table, reg, pw = t[f"{prefix}_comparisons"], t[f"{prefix}_regime"], t[f"{prefix}_power"]
    deltas = "; ".join(f"{task}: δ = {DELTA[task]:.5g} {UNITS[task]}" for task in sorted(set(table["task"]))) \
        if len(table) else "no comparison"
    shown = table.assign(effect=[_effect(r) for r in table.itertuples()]) if len(table) else table
    lines = ["## Protocol v3 (these grades supersede the v2 verdicts below)", "",
             "The rules are the claims study's protocol v3 (`results/default/REPORT.md`, and "
             "`replication.analysis.protocol3`): each comparison in the task's own metric (" + deltas + "), "
             "graded from its Holm-adjusted paired t-interval within its family: *relevant* (beyond ±δ), "
             "*uncertain size* (excludes 0, crosses δ), *small* (excludes 0, inside ±δ), *negligible* (contains 0, "
             "inside ±δ), *inconclusive*. " + v2_note, "",
             "### Every comparison (v3)", "",
             table_md(shown[["dataset", "family", "a", "b", "n", "effect", "level", "grade"]]) if len(table)
             else "(no comparison)", "",
             "### Regime, from the curves (for information: these comparisons are exploratory, ungated)", "",
             table_md(reg[["dataset", "runs", "median_val_slope_after_pct", "p_val_rise", "median_train_slope_pct",
                           "classification"]]) if len(reg) else "(no curves)", "",
             "### Power against zero: minimum detectable effect and seeds needed", "",
             table_md(pw) if len(pw) else "(none)", ""]
    return "\n".join(lines)
