"""The verdict on each claim, from paired per-seed differences.

Method (fixed before the sweep was run; the report prints it):
- A comparison "a vs b" on one dataset takes, for every seed where both runs finished without
  diverging, ``d = metric(a) − metric(b)`` (seeds are paired: same data order and initial weights).
- Effect: the mean of ``d``, also as % of the ``zero`` strategy's mean on that dataset. 95% CI:
  percentile bootstrap of the mean (``scipy.stats.bootstrap``, 9,999 resamples, fixed seed).
- p-value: two-sided one-sample t-test of ``d`` (the paired t-test); Holm's step-down correction
  across all comparisons of one claim (all its datasets and strategies).
- Verdict of a comparison: *supported* when the Holm-adjusted p < 0.05 and the effect has the
  claimed sign, *contradicted* when p < 0.05 with the opposite sign, else *inconclusive*.
  C3 is an equivalence claim: *supported* when the whole CI lies inside ±``margin`` (1% of zero's
  mean), *contradicted* when it lies wholly outside, else *inconclusive*.
- A claim on a dataset that bundles several comparisons (C1: every non-zero strategy, both
  metrics) is *supported* when all are, *contradicted* when any is, else *inconclusive*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
EQUIV_MARGIN = 0.01  # C3: ±1% of the zero strategy's mean test loss
NONZERO = ("noisy", "learned", "learned_noisy", "adaptive")
# short-many member, long-few member of each H4 pair
PAIRS = {
    "synthetic": ("synthetic_short", "synthetic_long"),
    "shakespeare": ("shakespeare_windows", "shakespeare_stateful"),
    "treering": ("treering_windows", "treering_stateful"),
}
CLAIMS = {
    "C1-faster": "every non-zero initial state trains faster than zero (area under the training-loss curve)",
    "C1-generalize": "every non-zero initial state generalizes better than zero (test loss at best val)",
    "C2": "learned beats noisy (test loss at best val)",
    "C3": "noise on a learned state adds nothing (learned_noisy ≈ learned within ±1% of zero's test loss)",
    "H4": "learning helps more with many short sequences, noise with few long ones "
          "((learned − noisy) test loss, short-many minus long-few, relative to zero)",
}


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    order = np.argsort(q)
    m = len(q)
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def bootstrap_ci(*samples: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap CI of ``mean(x)`` (one sample) or ``mean(x) − mean(y)`` (two)."""
    if any(len(s) < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        v = float(np.mean(samples[0]) - (np.mean(samples[1]) if len(samples) > 1 else 0.0))
        return (v, v) if all(len(s) >= 1 for s in samples) else (np.nan, np.nan)

    def stat(*xs, axis=-1):
        return np.mean(xs[0], axis=axis) - (np.mean(xs[1], axis=axis) if len(xs) > 1 else 0.0)

    res = stats.bootstrap(samples, stat, confidence_level=0.95, n_resamples=9999, method="percentile",
                          paired=False, vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[~runs["diverged"].astype(bool)]


def paired_differences(runs: pd.DataFrame, dataset: str, metric: str, a: str, b: str) -> np.ndarray:
    """``(n_seeds,)`` ``metric(a) − metric(b)`` over the seeds where both finished (by label)."""
    d = _ok(runs)[lambda r: r["dataset"] == dataset].pivot_table(index="seed", columns="label", values=metric)
    if a not in d or b not in d:
        return np.array([])
    return (d[a] - d[b]).dropna().to_numpy(dtype=float)


def zero_mean(runs: pd.DataFrame, dataset: str, metric: str) -> float:
    z = _ok(runs)[(runs["dataset"] == dataset) & (runs["label"] == "zero")][metric]
    return float(z.mean()) if len(z) else np.nan


def _row(claim, dataset, metric, a, b, diffs, scale, expect):
    n = len(diffs)
    mean = float(np.mean(diffs)) if n else np.nan
    lo, hi = bootstrap_ci(diffs) if n else (np.nan, np.nan)
    p = float(stats.ttest_1samp(diffs, 0.0).pvalue) if n >= 2 and np.ptp(diffs) > 0 else np.nan
    rel = lambda v: 100.0 * v / scale if scale and np.isfinite(scale) else np.nan  # noqa: E731
    return {
        "claim": claim, "dataset": dataset, "metric": metric, "a": a, "b": b, "n": n,
        "mean_diff": mean, "ci_low": lo, "ci_high": hi, "rel_pct": rel(mean),
        "rel_ci_low": rel(lo), "rel_ci_high": rel(hi), "p": p, "expect": expect, "scale": scale,
    }


def comparisons(runs: pd.DataFrame) -> pd.DataFrame:
    """Every comparison of every claim on every dataset present, with CIs, p and verdicts."""
    rows = []
    datasets = sorted(runs["dataset"].unique())
    for ds in datasets:
        labels = set(runs.loc[runs["dataset"] == ds, "label"])
        for metric, claim in (("auc_train", "C1-faster"), ("test_at_best", "C1-generalize")):
            for s in NONZERO:
                if s in labels and "zero" in labels:
                    rows.append(_row(claim, ds, metric, s, "zero", paired_differences(runs, ds, metric, s, "zero"),
                                     zero_mean(runs, ds, metric), "negative"))
        if {"learned", "noisy"} <= labels:
            rows.append(_row("C2", ds, "test_at_best", "learned", "noisy",
                             paired_differences(runs, ds, "test_at_best", "learned", "noisy"),
                             zero_mean(runs, ds, "test_at_best"), "negative"))
        if {"learned_noisy", "learned"} <= labels:
            rows.append(_row("C3", ds, "test_at_best", "learned_noisy", "learned",
                             paired_differences(runs, ds, "test_at_best", "learned_noisy", "learned"),
                             zero_mean(runs, ds, "test_at_best"), "equivalent"))
    rows += _h4_rows(runs, datasets)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_holm"] = np.nan
    for claim, idx in table.groupby("claim").groups.items():
        if claim != "C3":
            table.loc[idx, "p_holm"] = holm(table.loc[idx, "p"].to_numpy())
    table["verdict"] = [_verdict(r) for r in table.to_dict("records")]
    return table


def _h4_rows(runs, datasets):
    rows = []
    for pair, (short, long) in PAIRS.items():
        if short not in datasets or long not in datasets:
            continue
        rel = []
        for ds in (short, long):
            d = paired_differences(runs, ds, "test_at_best", "learned", "noisy")
            rel.append(d / zero_mean(runs, ds, "test_at_best"))
        if min(len(rel[0]), len(rel[1])) < 2:
            continue
        lo, hi = bootstrap_ci(rel[0], rel[1])
        mean = float(rel[0].mean() - rel[1].mean())
        p = float(stats.ttest_ind(rel[0], rel[1], equal_var=False).pvalue)
        rows.append({
            "claim": "H4", "dataset": pair, "metric": "test_at_best (relative)", "a": f"{short}: learned−noisy",
            "b": f"{long}: learned−noisy", "n": min(len(rel[0]), len(rel[1])), "mean_diff": mean,
            "ci_low": lo, "ci_high": hi, "rel_pct": 100 * mean, "rel_ci_low": 100 * lo, "rel_ci_high": 100 * hi,
            "p": p, "expect": "negative", "scale": 1.0,
            "short_rel_pct": 100 * rel[0].mean(), "long_rel_pct": 100 * rel[1].mean(),
        })
    return rows


def _verdict(r: dict) -> str:
    if r["n"] < 2 or np.isnan(r["ci_low"]):
        return "inconclusive"
    if r["expect"] == "equivalent":
        m = EQUIV_MARGIN * abs(r["scale"])
        if -m <= r["ci_low"] and r["ci_high"] <= m:
            return "supported"
        if r["ci_low"] > m or r["ci_high"] < -m:
            return "contradicted"
        return "inconclusive"
    if np.isnan(r["p_holm"]) or r["p_holm"] >= ALPHA:
        return "inconclusive"
    return "supported" if (r["mean_diff"] < 0) == (r["expect"] == "negative") else "contradicted"


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One verdict per (claim, dataset): all comparisons supported → supported; any contradicted
    → contradicted; else inconclusive."""
    out = []
    for (claim, ds), g in table.groupby(["claim", "dataset"], sort=False):
        v = set(g["verdict"])
        verdict = "contradicted" if "contradicted" in v else "supported" if v == {"supported"} else "inconclusive"
        out.append({"claim": claim, "dataset": ds, "verdict": verdict, "comparisons": len(g)})
    return pd.DataFrame(out)


def blog_side_by_side(runs: pd.DataFrame) -> pd.DataFrame:
    """Best val loss per strategy and dataset as % change vs zero (perplexity for lm), the form
    of r2rt's PTB table, with r2rt's own numbers in a last column."""
    blog = {"zero": 162.42, "learned": 147.41, "noisy": 154.25, "learned_noisy": 145.26}
    rows = []
    for ds, g in _ok(runs).groupby("dataset"):
        task = g["task"].iloc[0]
        val = g.groupby("label")["best_val_loss"].mean()
        if task == "lm":
            val = np.exp(val)
        if "zero" not in val:
            continue
        for label, v in val.items():
            rows.append({"dataset": ds, "task": task, "strategy": label,
                         "best_val": v, "pct_vs_zero": 100 * (v / val["zero"] - 1),
                         "blog_pct_vs_zero": 100 * (blog[label] / blog["zero"] - 1) if label in blog else np.nan})
    return pd.DataFrame(rows)
