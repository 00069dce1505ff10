"""Protocol v3's regime test on the learning curves, one that can fail (v2's "best before last" could
not: early stopping ends every run patience + 1 epochs after its best).

Per run (:func:`run_stats`): the best epoch b (lowest validation loss, the first on ties), the OLS slope
of the validation loss over epochs b … last in % of its best value per epoch, the same slope of the
clean training loss (% of its value at b), and the run's epoch-to-epoch noise σ: the
Gasser–Sroka–Jennen-Steinmetz (1986) pseudo-residuals (v[i−1] − 2v[i] + v[i+1]) / √6, whose mean
square estimates the noise variance around any locally linear trend, over the window W = the epochs
from b − (last − b) to the last (the stretch around the best, as long before it as after).

The decision uses the slope after the best epoch *without* the best epoch itself (b + 1 … last;
``val_slope_after_pct``). Picking the minimum as the best biases only that one point: on a flat curve
with independent noise the later epochs are i.i.d. given the minimum (early stopping only counts
them), so their slope is symmetric about 0 and "the validation loss rises" is an exact one-sided
sign test across runs, with no noise estimate and no tuning constant. The slope with the best
included, the form the review used, is reported beside it with its noise-plus-selection baseline
(:func:`null_slopes`: a flat curve, all T epochs exchangeable, the minimum picked, scaled by the
dataset's σ, the root of the pooled mean square pseudo-residual): descriptive, because its calibration
depends on how many epochs really compete for the minimum (all of them on a flat curve, fewer after a
descent, so the baseline is conservative for long descending runs).
Simulated (200 datasets of 20 early-stopped runs, patience 5, noise 0.5%): the sign test calls a flat
curve rising in 3% at α = .05 (1% with min_epochs = 25), a descent to a plateau in 1%, a slow
descent in 0%, a U (rise 0.2%/epoch) in 90%; slow random drift (AR(1) noise, φ = 0.5) counts as a
rise in 36%. The training loss falls when the one-sided sign test of its post-best slopes (best
included) has p < α. Runs are treated as independent units (strategies of one seed share data order
and initialisation): a dataset's class describes its curves, not a population of runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .protocol3 import ALPHA, REGIME_NULL_DRAWS, REGIME_SEED, UNDERFIT_SHARE

CLASSES = ("in regime", "noise", "plateau", "degrading", "underfit")
COLUMNS = ["dataset", "runs", "still_improving", "median_val_slope_after_pct", "val_rising_share", "p_val_rise",
           "median_val_slope_pct", "baseline_slope_pct", "baseline_q95_pct", "noise_pct",
           "median_train_slope_pct", "train_falling_share", "p_train_fall",
           "median_train_change_pct", "best_at_most_1", "classification", "in_regime"]


def _slope(y: np.ndarray) -> float:
    """OLS slope of ``y`` (shape ``(m,)``) on 0 … m − 1."""
    x = np.arange(len(y), dtype=float)
    x -= x.mean()
    return float((x * y).sum() / (x * x).sum())


def run_stats(epochs, val, train) -> dict:
    """One run's curve numbers: ``best`` (index of the lowest ``val``), ``post`` (points from the best
    to the last, the best included), ``epochs`` (T), ``window`` (|W|), ``val_slope_pct`` (best included), ``val_slope_after_pct`` (best
    excluded), ``train_slope_pct``,
    ``noise_pct`` (its σ estimate, % of the best val), ``train_change_pct`` (clean training loss, last vs first
    epoch, %). Arrays of shape ``(T,)`` in epoch order; slopes are NaN when the run ends at its best."""
    order = np.argsort(np.asarray(epochs))
    v, tr = np.asarray(val, dtype=float)[order], np.asarray(train, dtype=float)[order]
    T = len(v)
    b = int(np.argmin(v))
    post = T - b
    lo = max(0, b - (post - 1))
    w = v[lo:]
    e = (w[:-2] - 2 * w[1:-1] + w[2:]) / np.sqrt(6.0) if len(w) >= 3 else np.array([])
    nan = float("nan")
    scale = 100.0 / v[b]
    return {"best": b, "post": post, "epochs": T, "window": T - lo,
            "val_slope_pct": _slope(v[b:]) * scale if post >= 2 else nan,
            "val_slope_after_pct": _slope(v[b + 1:]) * scale if post >= 3 else nan,
            "train_slope_pct": _slope(tr[b:]) * 100.0 / tr[b] if post >= 2 and np.isfinite(tr[b:]).all() else nan,
            "noise_pct": float(np.sqrt(np.mean(e * e))) * scale if len(e) else nan,
            "train_change_pct": 100.0 * (tr[-1] / tr[0] - 1.0) if np.isfinite(tr[[0, -1]]).all() else nan}


def null_slopes(epochs: int, post: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``(draws,)`` post-best OLS slopes of a flat unit-variance curve: ``epochs`` i.i.d. N(0, 1) values,
    the minimum as the best, then ``post − 1`` of the other ``epochs − 1`` in random order."""
    x = np.sort(rng.standard_normal((draws, epochs)), axis=1)
    rest = x[:, 1:]
    pick = np.argsort(rng.random(rest.shape), axis=1)[:, : post - 1]
    y = np.concatenate([x[:, :1], np.take_along_axis(rest, pick, axis=1)], axis=1)
    t = np.arange(post, dtype=float)
    t -= t.mean()
    return (y * t).sum(axis=1) / (t * t).sum()


def per_run(curves: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`run_stats` of every run (dataset, label, seed) of ``curves`` (columns epoch, val_loss,
    train_loss_clean); runs that ``runs`` marks diverged are left out."""
    c = curves.dropna(subset=["val_loss"])
    keys = ["dataset", "label", "seed"]
    if runs is not None and len(runs):
        bad = runs.loc[runs["diverged"].astype(bool), keys]
        c = c.merge(bad.assign(_bad=True), on=keys, how="left")
        c = c[c["_bad"].isna()].drop(columns="_bad")
    rows = [{"dataset": ds, "label": lab, "seed": s, **run_stats(g["epoch"], g["val_loss"], g["train_loss_clean"])}
            for (ds, lab, s), g in c.groupby(keys, sort=True) if len(g) >= 2]
    return pd.DataFrame(rows)


def _label(p_val: float, p_train: float, underfit: bool, alpha: float) -> str:
    if underfit:
        return "underfit"
    rises, falls = p_val < alpha, p_train < alpha
    return {(True, True): "in regime", (False, True): "noise", (False, False): "plateau",
            (True, False): "degrading"}[rises, falls]


def _sign_p(x: pd.Series, positive: bool) -> float:
    """One-sided sign test that ``x`` is more often > 0 (``positive``) or < 0; 1 with no data."""
    x = x.dropna()
    k = int((x > 0).sum() if positive else (x < 0).sum())
    return float(stats.binomtest(k, len(x), 0.5, alternative="greater").pvalue) if len(x) else 1.0


def classify_dataset(rs: pd.DataFrame, alpha: float = ALPHA, draws: int = REGIME_NULL_DRAWS,
                     seed: int = REGIME_SEED) -> dict:
    """The regime of one dataset from its runs' :func:`run_stats` rows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    still = float((rs["post"] <= 1).mean())
    ok = rs[rs["post"] >= 2]
    after, train = ok["val_slope_after_pct"].dropna(), ok["train_slope_pct"].dropna()
    out = {"runs": len(rs), "still_improving": still, "best_at_most_1": float((rs["best"] <= 1).mean()),
           "median_train_change_pct": float(rs["train_change_pct"].median()),
           "median_val_slope_pct": float(ok["val_slope_pct"].median()) if len(ok) else np.nan,
           "median_val_slope_after_pct": float(after.median()) if len(after) else np.nan,
           "val_rising_share": float((after > 0).mean()) if len(after) else np.nan,
           "p_val_rise": _sign_p(after, positive=True),
           "median_train_slope_pct": float(train.median()) if len(train) else np.nan,
           "train_falling_share": float((train < 0).mean()) if len(train) else np.nan,
           "p_train_fall": _sign_p(train, positive=False),
           "noise_pct": np.nan, "baseline_slope_pct": np.nan, "baseline_q95_pct": np.nan}
    noisy = ok[np.isfinite(ok["noise_pct"]) & (ok["window"] >= 3)]
    if len(noisy):
        # descriptive baseline of the best-included slope: one null draw per run, the median over runs
        sigma = float(np.sqrt(np.average(noisy["noise_pct"] ** 2, weights=noisy["window"] - 2)))
        cache: dict = {}
        null = np.empty((draws, len(noisy)))
        for j, r in enumerate(noisy.itertuples()):
            shape = (int(r.epochs), int(r.post))
            if shape not in cache:
                cache[shape] = null_slopes(*shape, draws, rng)
            null[:, j] = cache[shape][rng.permutation(draws)]  # independent across runs
        med = np.median(null, axis=1) * sigma
        out.update({"noise_pct": sigma, "baseline_slope_pct": float(np.median(med)),
                    "baseline_q95_pct": float(np.quantile(med, 0.95))})
    underfit = still >= UNDERFIT_SHARE or not len(after)
    label = _label(out["p_val_rise"], out["p_train_fall"], underfit, alpha)
    return {**out, "classification": label, "in_regime": label == "in regime"}


def classify(curves: pd.DataFrame, runs: pd.DataFrame | None = None, alpha: float = ALPHA,
             draws: int = REGIME_NULL_DRAWS, seed: int = REGIME_SEED) -> pd.DataFrame:
    """Per dataset (columns :data:`COLUMNS`): the regime classification (one of :data:`CLASSES`) with
    its numbers, slopes in %/epoch (of the best validation loss, of the training loss at the best):
    the median validation slope after the best epoch (best excluded), the share of runs in which it
    rises and its sign test's p (the decision); the median slope with the best included and its
    noise-plus-selection baseline (median and 95th percentile of the null median; σ, % of the best);
    the median post-best clean-training slope, the share of runs in which it falls and its sign
    test's p; the median whole-run change of the clean training loss; the share of runs whose best
    epoch is ≤ 1."""
    if not {"epoch", "val_loss", "train_loss_clean"} <= set(curves.columns):
        return pd.DataFrame(columns=COLUMNS)  # records without curves (or before the clean loss existed)
    pr = per_run(curves, runs)
    rows = [{"dataset": ds, **classify_dataset(g, alpha, draws, seed)} for ds, g in pr.groupby("dataset")] if len(pr) else []
    return pd.DataFrame(rows, columns=COLUMNS)
