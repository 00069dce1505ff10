"""Protocol v3's paired comparisons in each task's own metric, for any study: the per-seed values of
an endpoint (:func:`wide`), the paired differences in the comparison unit (:func:`diffs`), one row
per (a, b) pair (:func:`pairwise`) and the graded table with display columns (:func:`graded`).

A study names its pairs; this module knows no study. Columns of the rows: :data:`BASE`; of the graded
table: :data:`COLUMNS` (the :data:`.grading.GRADED` columns and est/ci display, % perplexity for
language models)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from . import endpoints as E
from . import grading as G
from . import stats as S
from .protocol3 import UNITS

BASE = ["claim", "family", "dataset", "task", "endpoint", "column", "unit", "a", "b", "expect", "exploratory",
        "n", "mean_diff", "se", "df", "scale", "delta"]
COLUMNS = BASE + G.GRADED + ["est_display", "ci_low_display", "ci_high_display"]


class Pair(NamedTuple):
    """One comparison a − b: ``claim`` names it; ``expect`` is lower | higher | equal; ``family`` is
    its Holm family (the dataset when None)."""

    claim: str
    a: str
    b: str
    expect: str = "lower"
    exploratory: bool = False
    family: str | None = None


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not diverge."""
    return runs[~runs["diverged"].astype(bool)] if len(runs) else runs


def wide(ok: pd.DataFrame, dataset: str, column: str, kind: str) -> pd.DataFrame:
    """``seed × label`` per-run values of one endpoint on one dataset, in the comparison unit."""
    g = ok[ok["dataset"] == dataset]
    if column not in g or g[column].isna().all():
        return pd.DataFrame()
    w = g.pivot_table(index="seed", columns="label", values=column, aggfunc="first")
    return E.values(w, kind)


def scale(w: pd.DataFrame, b: str) -> float:
    """Zero's mean on the dataset, b's mean where it has no zero run: what a relative unit divides by."""
    for ref in ("zero", b):
        if ref in w and w[ref].notna().any():
            return float(w[ref].mean())
    return np.nan


def diffs(w: pd.DataFrame, a: str, b: str, kind: str, scale_: float) -> np.ndarray:
    """The paired differences a − b over the seeds that have both, in the comparison unit."""
    d = (w[a] - w[b]).dropna().to_numpy(dtype=float)
    return 100.0 * d / abs(scale_) if kind == "relative" else d


def unit(task: str, endpoint: str, kind: str) -> str:
    if endpoint == "secondary" or (kind == "relative" and task != "forecast"):
        return "% of zero's loss"
    return UNITS[task]


def pairwise(ok: pd.DataFrame, ds: str, task: str, pairs, endpoint: str = "primary") -> list[dict]:
    """One :data:`BASE` row per :class:`Pair` whose arms both ran on ``ds`` (paired by seed)."""
    col, kind, delta = E.metric(task, endpoint)
    w = wide(ok, ds, col, kind)
    rows: list[dict] = []
    if w.empty:
        return rows
    for p in pairs:
        if p.a not in w or p.b not in w:
            continue
        sc = scale(w, p.b) if kind == "relative" else np.nan
        d = diffs(w, p.a, p.b, kind, sc)
        if not len(d):
            continue
        est, se, df, n = S.paired(d)
        fam = p.family or ds
        rows.append({"claim": p.claim, "family": fam if endpoint == "primary" else f"{fam} ({endpoint})",
                     "dataset": ds, "task": task, "endpoint": endpoint, "column": col,
                     "unit": unit(task, endpoint, kind), "a": p.a, "b": p.b, "expect": p.expect,
                     "exploratory": p.exploratory, "n": n, "mean_diff": est, "se": se, "df": df, "scale": sc,
                     "delta": delta})
    return rows


def graded(rows: list[dict], by=("claim", "family")) -> pd.DataFrame:
    """The graded table (:data:`COLUMNS`), Holm within each ``by`` group."""
    t = G.grade_table(pd.DataFrame(rows, columns=BASE), by=by)
    for k, src in (("est_display", "mean_diff"), ("ci_low_display", "ci_low"), ("ci_high_display", "ci_high")):
        t[k] = [float(E.display(task, x)) if "difference in differences" not in u else x
                for task, u, x in zip(t["task"], t["unit"], t[src])]
    return t[COLUMNS].reset_index(drop=True)
