"""Protocol v3 applied to a runs table: every comparison of C1-generalize, C2, C3, H4 and H4-early in
its task's own metric (:func:`comparisons`), graded (:mod:`.grading`), and the claim grades
(:func:`claims`). The per-run endpoints and δ are :mod:`.endpoints`'; the paired and Welch summaries
are v2's (:mod:`.stats`).

Columns: claim, family (Holm's family: the dataset, or ``dataset [label]`` for an exploratory
label; H4: the pair), dataset, task, endpoint (primary | secondary | early), column (of runs.csv),
unit, a, b, expect (lower | higher | equal), exploratory, n, mean_diff, se, df (in ``unit``), scale
(the reference mean a relative unit divides by; NaN for absolute units), delta (in ``unit``), the
:data:`.grading.GRADED` columns, and est_display / ci_low_display / ci_high_display (% perplexity for
language models, ``unit`` otherwise)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.analysis import endpoints as E
from replication.analysis import grading as G
from replication.analysis import paired3 as P3
from replication.analysis import stats as S
from replication.analysis.protocol3 import UNITS

from .protocol import BLOG_STRATEGIES, PAIRS

BASE, COLUMNS = P3.BASE, P3.COLUMNS
# Per-run test loss over the persistence-following early window (claims.v3.with_early_window).
WINDOW_COLUMN = "test_early_window"
_ok, _wide, _scale, _diffs = P3.finished, P3.wide, P3.scale, P3.diffs


def _has(ok: pd.DataFrame, datasets, column: str) -> bool:
    """Whether every one of ``datasets`` has some value of ``column``."""
    if column not in ok:
        return False
    return all(ok.loc[ok["dataset"] == ds, column].notna().any() for ds in datasets)


def _pairwise(ok: pd.DataFrame, ds: str, task: str, endpoint: str) -> list[dict]:
    col, kind, _ = E.metric(task, endpoint)
    w = _wide(ok, ds, col, kind)
    if w.empty:
        return []
    labels = set(w.columns)
    others = [x for x in BLOG_STRATEGIES if x in labels] + sorted(labels - set(BLOG_STRATEGIES) - {"zero"})
    pairs = [P3.Pair("C1-generalize", a, "zero", "lower", a not in BLOG_STRATEGIES,
                     f"{ds} [{a}]" if a not in BLOG_STRATEGIES else None) for a in others]
    pairs += [P3.Pair("C2", "learned", "noisy"), P3.Pair("C3", "learned_noisy", "learned", "equal")]
    return P3.pairwise(ok, ds, task, pairs, endpoint)


def _h4(ok: pd.DataFrame, tasks: dict) -> list[dict]:
    """Per pair and strategy s ∈ {learned, noisy}: the effect s − zero on the short-many member minus
    the same on the long-few member, each in the task's comparison unit (Welch: separate samples)."""
    rows = []
    for claim, endpoint in (("H4", "primary"), ("H4-early", "early")):
        for pair, members in PAIRS.items():
            if not all(m in tasks for m in members) or len({tasks[m] for m in members}) != 1:
                continue
            task = tasks[members[0]]
            try:
                col, kind, delta = E.metric(task, endpoint)
            except ValueError:
                continue
            if endpoint == "early" and _has(ok, members, WINDOW_COLUMN):
                col = WINDOW_COLUMN  # the window that follows the measured persistence (v3 §5)
            for s, expect in (("learned", "lower"), ("noisy", "higher")):
                eff = []
                for ds in members:
                    w = _wide(ok, ds, col, kind)
                    ok_w = not w.empty and s in w and "zero" in w
                    eff.append(_diffs(w, s, "zero", kind, _scale(w, "zero")) if ok_w else np.array([]))
                if not (len(eff[0]) and len(eff[1])):
                    continue
                est, se, df, n = S.welch(*eff)
                rows.append({"claim": claim, "family": pair, "dataset": pair, "task": task, "endpoint": endpoint,
                             "column": col, "unit": f"{UNITS[task]} (difference in differences)", "a": s,
                             "b": "zero", "expect": expect, "exploratory": False, "n": n, "mean_diff": est,
                             "se": se, "df": df, "scale": np.nan, "delta": delta})
    return rows


def comparisons(runs: pd.DataFrame, endpoint: str = "primary") -> pd.DataFrame:
    """The graded v3 comparisons of a runs table (columns :data:`COLUMNS`). ``endpoint``: "primary"
    (C1-generalize, C2, C3 and H4, plus H4-early on the early-position loss) or "secondary"
    (classification log-loss; decides nothing). Diverged runs are left out; a seed enters a
    comparison when both its runs finished."""
    ok = _ok(runs)
    rows: list[dict] = []
    tasks = ok.groupby("dataset")["task"].first().to_dict() if len(ok) else {}
    for ds, task in sorted(tasks.items()):
        if endpoint == "primary" or task in E.SECONDARY:
            rows += _pairwise(ok, ds, task, endpoint)
    if endpoint == "primary":
        rows += _h4(ok, tasks)
    return P3.graded(rows)


def claims(table: pd.DataFrame, regime: pd.DataFrame | None = None) -> pd.DataFrame:
    """Claim grades per family (:func:`.grading.claims_table`) plus ``in_regime`` (from
    :func:`.regime_test.classify`'s table when given): C1-generalize and C2 rows of a dataset that is
    not in regime read "out of regime" instead of their grade, which stays in ``grade_ungated``."""
    c = G.claims_table(table)
    c["grade_ungated"] = c["grade"]
    if regime is not None and len(regime):
        inside = regime.set_index("dataset")["in_regime"].astype(bool).to_dict()
        gated = c["claim"].isin(["C1-generalize", "C2"])
        c["in_regime"] = [inside.get(ds, False) for ds in c["dataset"]]
        c.loc[gated & ~c["in_regime"], "grade"] = "out of regime"
    return c
