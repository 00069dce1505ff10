"""The statistics of protocol v2, free of tables: Holm's correction, t-based summaries of a paired or
Welch difference, the four-way verdict of one comparison, the DerSimonian–Laird pooled estimate and the
minimum detectable effect. Every interval here is a t-interval (or, pooled, a normal one)."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.optimize import brentq

from .protocol import ALPHA, POWER

VERDICTS = ("better", "worse", "negligible", "inconclusive")


def holm(p) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, capped at 1 (NaN entries stay NaN and do not count)."""
    return np.minimum(holm_uncapped(p), 1.0)


def holm_uncapped(p) -> np.ndarray:
    """Holm's step-down values max_{k ≤ rank} (m − k + 1)·p_(k) before the cap at 1: dividing by p gives
    the factor c (1 ≤ c ≤ m) that sets the level 1 − α/c of an interval that agrees with the test."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    order = np.argsort(q, kind="stable")
    m = len(q)
    res = np.empty(m)
    res[order] = np.maximum.accumulate((m - np.arange(m)) * q[order])
    out[ok] = res
    return out


def holm_factors(p) -> np.ndarray:
    """``c = holm_uncapped(p) / p`` per entry; a comparison with p = 0 gets its own step's multiplier."""
    p = np.asarray(p, dtype=float)
    adj = holm_uncapped(p)
    c = np.ones_like(p)
    ok = np.isfinite(p)
    m = int(ok.sum())
    ranks = np.empty(m)
    ranks[np.argsort(p[ok], kind="stable")] = np.arange(m)
    own = m - ranks  # m − rank + 1 with 1-based ranks
    with np.errstate(divide="ignore", invalid="ignore"):
        c[ok] = np.where(p[ok] > 0, adj[ok] / np.where(p[ok] > 0, p[ok], 1.0), own)
    c[~ok] = np.nan
    return np.maximum(c, 1.0)


def paired(d) -> tuple[float, float, float, int]:
    """``(mean, se, df, n)`` of the paired differences ``d`` (shape ``(n,)``); NaN where n < 2."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    if n < 2:
        return (float(d[0]) if n else np.nan), np.nan, np.nan, n
    # Paired runs can agree to the last bit (identical strategies); std of a constant is exactly 0.
    sd = 0.0 if np.ptp(d) == 0 else float(np.std(d, ddof=1))
    return float(d.mean()), sd / np.sqrt(n), float(n - 1), n


def mean_ci(values, alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """``(mean, low, high, n)``: the mean of the finite ``values`` (shape ``(n,)``) and its two-sided
    ``1 − alpha`` t-interval; the bounds are NaN where n < 2 (one seed has no interval), all NaN where
    n = 0. The one interval over seeds every table, band and bar uses (uncorrected)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    est, se, df, n = paired(v)
    if n < 2:
        return est, np.nan, np.nan, n
    h = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return est, est - h, est + h, n


def welch(x, y) -> tuple[float, float, float, int]:
    """``(mean(x) − mean(y), se, Welch–Satterthwaite df, min(nx, ny))``; NaN where either n < 2."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    nx, ny = len(x), len(y)
    if min(nx, ny) < 2:
        est = float(x.mean() - y.mean()) if nx and ny else np.nan
        return est, np.nan, np.nan, min(nx, ny)
    vx = 0.0 if np.ptp(x) == 0 else float(np.var(x, ddof=1)) / nx
    vy = 0.0 if np.ptp(y) == 0 else float(np.var(y, ddof=1)) / ny
    se = np.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1)) if se > 0 else float(nx + ny - 2)
    return float(x.mean() - y.mean()), float(se), float(df), min(nx, ny)


def p_two_sided(est: float, se: float, df: float) -> float:
    """Two-sided t-test p of ``est = 0``; with ``se = 0`` (identical seeds): 0 unless est is 0."""
    if not np.isfinite(se) or not np.isfinite(est):
        return np.nan
    if se == 0:
        return 1.0 if est == 0 else 0.0
    return float(2 * stats.t.sf(abs(est) / se, df))


def p_tost(est: float, se: float, df: float, delta: float) -> float:
    """Larger of the two one-sided t-test p-values of ``est ≤ −delta`` and ``est ≥ delta``."""
    if not (np.isfinite(se) and np.isfinite(est) and np.isfinite(delta)):
        return np.nan
    if se == 0:
        return 0.0 if abs(est) < delta else 1.0
    return float(max(stats.t.sf((est + delta) / se, df), stats.t.sf((delta - est) / se, df)))


def judge(est: float, se: float, df: float, delta: float, factor: float = 1.0, alpha: float = ALPHA) -> dict:
    """The verdict of one comparison from its t-interval at level ``1 − alpha/factor``.

    Returns ``level``, ``ci_low``, ``ci_high``, ``p_equiv`` (= min(1, 2·factor·p_tost)) and ``verdict``:
    negligible if the interval lies inside (−delta, delta), else better / worse if it lies wholly
    below / above 0, else inconclusive. The verdict is read off the interval, so they never disagree."""
    nan = {"level": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_equiv": np.nan, "verdict": "inconclusive"}
    if not (np.isfinite(est) and np.isfinite(se) and np.isfinite(factor)):
        return nan
    a = alpha / factor
    h = 0.0 if se == 0 else float(stats.t.ppf(1 - a / 2, df)) * se
    lo, hi = est - h, est + h
    inside = np.isfinite(delta) and -delta < lo and hi < delta
    verdict = "negligible" if inside else "better" if hi < 0 else "worse" if lo > 0 else "inconclusive"
    pe = p_tost(est, se, df, delta)
    return {"level": 1 - a, "ci_low": lo, "ci_high": hi, "p_equiv": min(1.0, 2 * factor * pe) if np.isfinite(pe) else np.nan,
            "verdict": verdict}


def random_effects(effects, variances, alpha: float = ALPHA) -> dict:
    """DerSimonian–Laird random-effects estimate (statsmodels ``combine_effects``, method_re="dl",
    with tau² truncated at 0 as DerSimonian and Laird define it).

    ``effects``, ``variances``: one per study (shape ``(k,)``); entries that are not finite or whose
    variance is not positive are left out. Returns ``estimate``, ``se``, ``ci_low``, ``ci_high``
    (normal, level 1 − alpha), ``tau2``, ``i2``, ``k``; NaN where fewer than 2 studies remain."""
    from statsmodels.stats.meta_analysis import combine_effects

    y, v = np.asarray(effects, dtype=float), np.asarray(variances, dtype=float)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    if len(y) < 2:
        return {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "tau2": np.nan,
                "i2": np.nan, "k": int(len(y))}
    with np.errstate(invalid="ignore", divide="ignore"):  # see below: negative tau² before truncation
        res = combine_effects(y, v, method_re="dl", alpha=alpha)
        (fe_lo, fe_hi), (re_lo, re_hi) = res.conf_int(alpha=alpha, use_t=False)[:2]
    if res.tau2 > 0:
        return {"estimate": float(res.mean_effect_re), "se": float(res.sd_eff_w_re), "ci_low": float(re_lo),
                "ci_high": float(re_hi), "tau2": float(res.tau2), "i2": float(res.i2), "k": int(len(y))}
    # statsmodels 0.15 does not truncate DerSimonian–Laird's tau² = (Q − df)/C at 0: with less spread than
    # chance (Q < df) it is negative and its random-effects weights are meaningless (NaN SE). DL proper
    # sets tau² = 0, where the random-effects estimate is the fixed-effect one statsmodels also returns.
    return {"estimate": float(res.mean_effect_fe), "se": float(res.sd_eff_w_fe), "ci_low": float(fe_lo),
            "ci_high": float(fe_hi), "tau2": 0.0, "i2": 0.0, "k": int(len(y))}


def power_paired(effect_sd: float, n: int, alpha: float) -> float:
    """Power of a two-sided paired t-test with ``n`` pairs at level ``alpha`` against a true effect of
    ``effect_sd`` SDs: statsmodels' ``TTestPower.power``, or where that returns NaN (its noncentral-t
    routine does so sporadically at small df, e.g. n = 3 and effect 5.6) the same probability by
    integrating over the chi-square of the variance."""
    from scipy.integrate import quad
    from statsmodels.stats.power import TTestPower

    pw = TTestPower().power(effect_size=effect_sd, nobs=n, alpha=alpha, alternative="two-sided")
    if np.isfinite(pw):
        return float(pw)
    df, nc = n - 1, effect_sd * np.sqrt(n)
    c = stats.t.ppf(1 - alpha / 2, df)

    def density(v: float) -> float:  # P(reject | V = v) · f_chi2(v); T' = (Z + nc) / sqrt(V/df)
        s = c * np.sqrt(v / df)
        return (stats.norm.sf(s - nc) + stats.norm.cdf(-s - nc)) * stats.chi2.pdf(v, df)

    return float(quad(density, 0, np.inf, limit=200)[0])


def mde_sd(n: int, alpha: float, power: float = POWER) -> float:
    """Smallest effect, in SDs of the paired difference, that a two-sided paired t-test with ``n``
    pairs at level ``alpha`` detects with probability ``power`` (:func:`power_paired`). Solved here by
    bracketing and Brent's method: statsmodels' own ``solve_power`` stops early for n ≤ 3 (it returned
    4.29 at n = 3, α = .05/3, where the power is only 0.61)."""
    if n < 2:
        return np.nan

    def gap(e: float) -> float:
        return power_paired(e, n, alpha) - power

    hi = 0.5
    while gap(hi) < 0:
        hi *= 2
        if hi > 1e6:
            return np.nan
    lo = hi / 2 if hi > 0.5 else 1e-6
    if gap(lo) >= 0:  # numerically unreliable corner (n = 2 at tiny alpha): no answer beats a wrong one
        return np.nan
    return float(brentq(gap, lo, hi, xtol=1e-10))
