"""Protocol v3's pooling over datasets: per task type only (a language model's nats, a classifier's
error points and a forecaster's % of MSE are different units and are never pooled together), with a
Hartung–Knapp–Sidik–Jonkman interval and a prediction interval. Descriptive: no verdict.

From statsmodels' ``combine_effects`` (method_re="dl", use_t=True): the DerSimonian–Laird τ², the
random-effects estimate and the HKSJ standard error (its "random effect wls" row: variance
Σ wᵢ*(yᵢ − μ̂)² / ((k − 1) Σ wᵢ*)), with t quantiles on k − 1 df. Written here because statsmodels 0.15 lacks them:
(1) DerSimonian–Laird's truncation of τ² at 0 (statsmodels returns the negative (Q − df)/C, and
with it meaningless weights; at τ² = 0 the random-effects model is the fixed-effect one, so its
"fixed effect wls" row is used); (2) the prediction interval of Higgins, Thompson & Spiegelhalter
(2009), μ̂ ± t_{k−2, 1−α/2} √(τ̂² + SE(μ̂)²), SE(μ̂) = (Σ wᵢ*)^−½ the random-effects SE, which needs
k ≥ 3 (NaN below); (3) the Knapp–Hartung ad hoc floor (Röver, Knapp & Friede 2015): the interval
uses max(SE_HKSJ, SE(μ̂)), because when the effects agree better than their variances predict
(Q < k − 1) the plain HKSJ interval is narrower than even the normal one (here: the two LM datasets'
learned − zero, SE_HKSJ 0.0001 vs 0.0013 nats, an interval of a tenth the width). The plain
SE_HKSJ is kept in its own column."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .protocol3 import ALPHA

POOLED_COLUMNS = ["task", "claim", "endpoint", "a", "b", "unit", "k", "estimate", "se", "se_hksj", "ci_low",
                  "ci_high", "pi_low", "pi_high", "tau2", "i2", "datasets"]
_EMPTY = {"estimate": np.nan, "se": np.nan, "se_hksj": np.nan, "ci_low": np.nan, "ci_high": np.nan,
          "pi_low": np.nan, "pi_high": np.nan, "tau2": np.nan, "i2": np.nan}


def hksj(effects, variances, alpha: float = ALPHA) -> dict:
    """Random-effects pooling of ``effects`` with within-study ``variances`` (shape ``(k,)``; entries
    not finite or with variance ≤ 0 are left out). Returns ``estimate``, ``se`` (random-effects),
    ``se_hksj`` (plain), ``ci_low`` / ``ci_high`` (HKSJ with the ad hoc floor, t on k − 1 df, level
    1 − alpha), ``pi_low`` / ``pi_high``
    (prediction interval, k ≥ 3), ``tau2`` (DL, truncated at 0), ``i2``, ``k``; NaN where k < 2."""
    from statsmodels.stats.meta_analysis import combine_effects

    y, v = np.asarray(effects, dtype=float), np.asarray(variances, dtype=float)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    k = int(len(y))
    if k < 2:
        return {**_EMPTY, "k": k}
    with np.errstate(invalid="ignore", divide="ignore"):  # negative DL τ² before truncation, see above
        res = combine_effects(y, v, method_re="dl", use_t=True, alpha=alpha)
    if res.tau2 > 0:
        est, se, se_h, tau2, i2 = res.mean_effect_re, res.sd_eff_w_re, res.sd_eff_w_re_hksj, float(res.tau2), float(res.i2)
    else:
        est, se, se_h, tau2, i2 = res.mean_effect_fe, res.sd_eff_w_fe, res.sd_eff_w_fe_hksj, 0.0, 0.0
    se_used = max(float(se), float(se_h))
    q = float(stats.t.ppf(1 - alpha / 2, k - 1)) * se_used
    ci = (est - q, est + q)
    pi = (np.nan, np.nan)
    if k >= 3:
        h = float(stats.t.ppf(1 - alpha / 2, k - 2)) * np.sqrt(tau2 + se**2)
        pi = (est - h, est + h)
    return {"estimate": float(est), "se": float(se), "se_hksj": float(se_h), "ci_low": float(ci[0]),
            "ci_high": float(ci[1]), "pi_low": float(pi[0]), "pi_high": float(pi[1]), "tau2": tau2,
            "i2": max(0.0, i2), "k": k}


def pooled(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Pool each comparison (claim, endpoint, a, b) over the datasets of one task type (H4: over the
    pairs of one task type); ``table`` is :func:`.comparisons3.comparisons`' (mean_diff, se in its
    unit). Columns :data:`POOLED_COLUMNS`; groups with fewer than 2 datasets are left out."""
    if table.empty:
        return pd.DataFrame(columns=POOLED_COLUMNS)
    out = []
    keys = ["task", "claim", "endpoint", "a", "b"]
    for (task, claim, endpoint, a, b), g in table.groupby(keys, sort=False):
        g = g[np.isfinite(g["mean_diff"]) & (g["se"] > 0)]
        units = set(g["unit"])
        if len(units) > 1:
            raise ValueError(f"{task} {claim} {a} vs {b}: rows in different units {sorted(units)}; pool one unit")
        if len(g) < 2:
            continue
        r = hksj(g["mean_diff"], g["se"] ** 2, alpha)
        out.append({"task": task, "claim": claim, "endpoint": endpoint, "a": a, "b": b, "unit": units.pop(), **r,
                    "datasets": ", ".join(g["dataset"])})
    return pd.DataFrame(out, columns=POOLED_COLUMNS)
