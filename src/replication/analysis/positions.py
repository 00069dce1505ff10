"""Start effects per position (protocol v3 §5, and the length study): the paired difference a − b at
each step index after a sequence start (:func:`paired_profile`), how many steps it lasts
(:func:`persistence`), the early window that follows it (:func:`windows`, chosen on validation) and
each run's loss over that window (:func:`windowed`, scored on test, weighted by the steps behind
each position).

``profiles`` is :func:`.collect.collect`'s table: one row per run (dataset, label, seed) and position,
with ``loss``/``count`` (validation) and ``test_loss``/``test_count`` (test; NaN in records older than
protocol v3). Position 0's count is the number of sequence starts behind an estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from . import stats as S
from .protocol3 import ALPHA, MIN_STARTS

PROFILE_DIFF_COLUMNS = ["position", "n", "mean_diff", "se", "ci_low", "ci_high"]
WINDOW_COLUMNS = ["dataset", "window", "persistence", "persistence_by", "val_starts", "test_starts", "few_starts"]


def _finished(profiles: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """The profile rows of runs that did not diverge (all rows when ``runs`` is None)."""
    if runs is None or runs.empty or profiles.empty:
        return profiles
    ok = runs.loc[~runs["diverged"].astype(bool), ["dataset", "label", "seed"]]
    return profiles.merge(ok, on=["dataset", "label", "seed"], how="inner")


def paired_profile(profiles: pd.DataFrame, dataset: str, a: str, b: str, column: str = "loss",
                   alpha: float = ALPHA, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per position t: the paired mean of ``column``(a) − ``column``(b) over the seeds that have both,
    its SE and two-sided ``1 − alpha`` t-interval (columns :data:`PROFILE_DIFF_COLUMNS`; NaN interval
    where fewer than 2 seeds). ``runs`` (optional) drops diverged runs."""
    g = _finished(profiles, runs)
    g = g[(g["dataset"] == dataset) & g["label"].isin([a, b])] if len(g) else g
    if g.empty or column not in g or g[column].isna().all():
        return pd.DataFrame(columns=PROFILE_DIFF_COLUMNS)
    w = g.pivot_table(index=["position", "seed"], columns="label", values=column, aggfunc="first")
    if a not in w or b not in w:
        return pd.DataFrame(columns=PROFILE_DIFF_COLUMNS)
    d = (w[a] - w[b]).dropna()
    rows = []
    for t, x in d.groupby(level="position"):
        est, se, df, n = S.paired(x.to_numpy(dtype=float))
        half = st.t.ppf(1 - alpha / 2, df) * se if n >= 2 else np.nan
        rows.append({"position": int(t), "n": n, "mean_diff": est, "se": se,
                     "ci_low": est - half, "ci_high": est + half})
    return pd.DataFrame(rows, columns=PROFILE_DIFF_COLUMNS)


def persistence(diff: pd.DataFrame) -> int:
    """Steps, from position 0, until the paired difference is first within noise: the number of
    leading positions whose interval excludes 0 (0 when position 0's already contains it, or when
    there is no interval)."""
    k = 0
    for r in diff.sort_values("position").itertuples():
        if r.position != k or not (np.isfinite(r.ci_low) and (r.ci_low > 0 or r.ci_high < 0)):
            break
        k += 1
    return k


def windows(profiles: pd.DataFrame, runs: pd.DataFrame | None = None, against: str = "zero",
            strategies=("learned", "noisy"), alpha: float = ALPHA) -> pd.DataFrame:
    """Per dataset with a validation profile: the early window, ``max(1, persistence)`` of the longest-
    lasting of ``strategies`` against ``against`` on *validation* (so the test endpoint over it is
    not chosen on test), and the sequence starts behind it. Columns :data:`WINDOW_COLUMNS`;
    ``few_starts`` marks fewer than :data:`MIN_STARTS` test starts."""
    g = _finished(profiles, runs)
    rows = []
    for ds in sorted(g["dataset"].unique()) if len(g) else []:
        per = {s: persistence(paired_profile(g, ds, s, against, "loss", alpha)) for s in strategies}
        if not per:
            continue
        by = max(per, key=lambda s: per[s])
        h = g[(g["dataset"] == ds) & (g["position"] == 0)]
        val_starts = float(h["count"].median()) if "count" in h and h["count"].notna().any() else np.nan
        test_starts = float(h["test_count"].median()) if "test_count" in h and h["test_count"].notna().any() \
            else np.nan
        rows.append({"dataset": ds, "window": max(1, per[by]), "persistence": per[by], "persistence_by": by,
                     "val_starts": val_starts, "test_starts": test_starts,
                     "few_starts": bool(np.isfinite(test_starts) and test_starts < MIN_STARTS)})
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def windowed(profiles: pd.DataFrame, window: pd.DataFrame, loss: str = "test_loss",
             count: str = "test_count") -> pd.DataFrame:
    """Per run (dataset, label, seed): the mean of ``loss`` over positions ``t < window``, weighted by
    ``count`` (the mean loss per scored step, as the fixed-k endpoint computes it). NaN for a run
    whose record lacks a position of its window."""
    if profiles.empty or window.empty or loss not in profiles:
        return pd.DataFrame(columns=["dataset", "label", "seed", "early_window"])
    k = window.set_index("dataset")["window"]
    g = profiles[profiles["dataset"].isin(k.index)]
    g = g[g["position"] < g["dataset"].map(k)]
    rows = []
    for (ds, label, seed), r in g.groupby(["dataset", "label", "seed"], sort=True):
        x, c = r[loss].to_numpy(dtype=float), r[count].to_numpy(dtype=float)
        whole = len(r) == int(k[ds]) and np.isfinite(x).all() and np.isfinite(c).all() and c.sum() > 0
        rows.append({"dataset": ds, "label": label, "seed": seed,
                     "early_window": float((x * c).sum() / c.sum()) if whole else np.nan})
    return pd.DataFrame(rows, columns=["dataset", "label", "seed", "early_window"])
