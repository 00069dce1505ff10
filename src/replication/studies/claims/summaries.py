"""Per-dataset and across-dataset summaries: the regime gate's inputs (:func:`regime`), the minimum
detectable effect (:func:`power`), the random-effects estimate of each comparison over datasets
(:func:`pooled`) and the blog side by side (:func:`blog_side_by_side`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.analysis import stats as S
from replication.analysis.protocol import ALPHA, REGIME_GATE

from .protocol import BLOG_PPL, BLOG_STRATEGIES, GATED

REGIME_COLUMNS = ["dataset", "runs", "diverged", "with_best_epoch", "peak_before_last", "in_regime",
                  "median_best_epoch", "median_epochs_run"]
POWER_COLUMNS = ["dataset", "seeds", "family", "alpha_per_test", "mde_sd", "paired_sd_pct_test", "mde_pct_test",
                 "paired_sd_pct_auc", "mde_pct_auc"]
POOLED_COLUMNS = ["claim", "a", "b", "subset", "k", "estimate", "se", "ci_low", "ci_high", "tau2", "i2",
                  "datasets"]


def regime(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (columns :data:`REGIME_COLUMNS`): runs, diverged, runs with a best epoch, the share
    of those that peaked before their last epoch (best_epoch < epochs_run − 1), and whether that share
    reaches the gate."""
    if runs.empty:
        return pd.DataFrame(columns=REGIME_COLUMNS)
    out = []
    for ds, g in runs.groupby("dataset"):
        ok = g[~g["diverged"].astype(bool) & g["best_epoch"].notna()]
        frac = float((ok["best_epoch"] < ok["epochs_run"] - 1).mean()) if len(ok) else np.nan
        out.append({"dataset": ds, "runs": len(g), "diverged": int(g["diverged"].astype(bool).sum()),
                    "with_best_epoch": len(ok), "peak_before_last": frac, "in_regime": bool(frac >= REGIME_GATE),
                    "median_best_epoch": float(ok["best_epoch"].median()) if len(ok) else np.nan,
                    "median_epochs_run": float(ok["epochs_run"].median()) if len(ok) else np.nan})
    return pd.DataFrame(out, columns=REGIME_COLUMNS)


def _rms_sd_pct(rows: pd.DataFrame) -> float:
    """RMS over comparisons of the SD of the paired difference, % of zero (rel_se·√n)."""
    v = (rows["rel_se"] ** 2 * rows["n"]).dropna()
    return float(np.sqrt(v.mean())) if len(v) else np.nan


def power(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (columns :data:`POWER_COLUMNS`): paired seeds of the C1 bundle, family size m, the
    minimum detectable effect at 80% power at α/m in SDs of the paired difference, and in % of zero for
    the test loss (C1-generalize) and the clean training area (C1-faster)."""
    out = []
    for ds in sorted(runs["dataset"].unique()) if len(runs) else []:
        rows = table[(table["dataset"] == ds) & table["a"].isin(BLOG_STRATEGIES)] if len(table) else table
        gen = rows[rows["claim"] == "C1-generalize"] if len(rows) else rows
        fast = rows[rows["claim"] == "C1-faster"] if len(rows) else rows
        ref = gen if len(gen) else fast
        if not len(ref):
            continue
        n, m = int(ref["n"].median()), len(ref)
        d = S.mde_sd(n, ALPHA / m)
        sd_t, sd_a = _rms_sd_pct(gen), _rms_sd_pct(fast)
        out.append({"dataset": ds, "seeds": n, "family": m, "alpha_per_test": ALPHA / m, "mde_sd": d,
                    "paired_sd_pct_test": sd_t, "mde_pct_test": d * sd_t, "paired_sd_pct_auc": sd_a,
                    "mde_pct_auc": d * sd_a})
    return pd.DataFrame(out, columns=POWER_COLUMNS)


def pooled(table: pd.DataFrame, regime_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """DerSimonian–Laird estimate of each comparison's % effect over datasets (H4: over pairs); columns
    :data:`POOLED_COLUMNS`. ``subset`` is "all", or for gated claims also "in regime" (datasets that
    pass the gate, when ``regime_df`` is given and at least two do)."""
    if table.empty:
        return pd.DataFrame(columns=POOLED_COLUMNS)
    ok_ds = set(regime_df.loc[regime_df["in_regime"].astype(bool), "dataset"]) if regime_df is not None and len(regime_df) else None
    out = []
    for (claim, a, b), g in table.groupby(["claim", "a", "b"], sort=False):
        subsets = [("all", g)]
        if claim in GATED and ok_ds is not None:
            subsets.append(("in regime", g[g["dataset"].isin(ok_ds)]))
        for name, h in subsets:
            h = h[np.isfinite(h["rel_pct"]) & (h["rel_se"] > 0)]
            if len(h) < 2:
                continue
            r = S.random_effects(h["rel_pct"], h["rel_se"] ** 2)
            out.append({"claim": claim, "a": a, "b": b, "subset": name, **r, "datasets": ", ".join(h["dataset"])})
    return pd.DataFrame(out, columns=POOLED_COLUMNS)


def blog_side_by_side(runs: pd.DataFrame) -> pd.DataFrame:
    """Best val loss per strategy and dataset as % change vs zero (perplexity for lm), the form of
    r2rt's PTB table, with r2rt's own numbers in a last column. Columns: dataset, task, strategy,
    best_val, pct_vs_zero, blog_pct_vs_zero."""
    cols = ["dataset", "task", "strategy", "best_val", "pct_vs_zero", "blog_pct_vs_zero"]
    ok = runs[~runs["diverged"].astype(bool)] if len(runs) else runs
    rows = []
    for ds, g in ok.groupby("dataset") if len(ok) else []:
        task = g["task"].iloc[0]
        val = g.groupby("label")["best_val_loss"].mean()
        if task == "lm":
            val = np.exp(val)
        if "zero" not in val or not np.isfinite(val["zero"]):
            continue
        for label, v in val.items():
            blog = 100 * (BLOG_PPL[label] / BLOG_PPL["zero"] - 1) if label in BLOG_PPL else np.nan
            rows.append({"dataset": ds, "task": task, "strategy": label, "best_val": v,
                         "pct_vs_zero": 100 * (v / val["zero"] - 1), "blog_pct_vs_zero": blog})
    return pd.DataFrame(rows, columns=cols)
