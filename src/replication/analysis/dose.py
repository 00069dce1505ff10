"""How a start effect should scale with the sequence length (the length study, issue 19): the gain
over a window of L scored steps predicted from one per-position profile (:func:`predict_gain`), and
the observed gains fitted by gain(L) = a/L + b (:func:`fit_inverse_length`).

Both take a per-position paired difference a − b (:func:`.positions.paired_profile`'s table:
``position``, ``mean_diff``, ``se``) measured at one length L0. The naive reading of such a profile
is that the effect at step t does not depend on the window it sits in, so that a window of L steps
gains the mean of the profile over its first L positions, the positions past L0 taking the
profile's diffuse tail. That reading ignores that a model trained on more starts may learn to
cope with a zero start itself; the study compares it with what is observed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .protocol3 import ALPHA

FIT_COLUMNS = ["a", "a_low", "a_high", "b", "b_low", "b_high", "k", "df"]


def tail_level(diff: pd.DataFrame, persistence: int) -> float:
    """The diffuse part of a profile: the mean paired difference over the positions at or after
    ``persistence`` (where the start effect has ended); NaN when none is left."""
    tail = diff[diff["position"] >= persistence]["mean_diff"]
    return float(tail.mean()) if len(tail) else np.nan


def predict_gain(diff: pd.DataFrame, length: int, persistence: int) -> float:
    """The mean paired difference over positions ``0 .. length − 1`` predicted from ``diff`` (one
    length's per-position profile): the profile itself where it reaches, its diffuse tail
    (:func:`tail_level`) beyond. Every position counts once, as every scored step of a window of
    ``length`` does."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    d = diff.set_index("position")["mean_diff"].sort_index()
    tail = tail_level(diff, persistence)
    values = [float(d[t]) if t in d.index and np.isfinite(d[t]) else tail for t in range(length)]
    return float(np.mean(values))


def fit_inverse_length(lengths, gains, ses, alpha: float = ALPHA) -> dict:
    """Weighted least squares of gain(L) = a/L + b (weights 1/se², which set the lengths' relative
    precision; the scale is estimated from the residuals; statsmodels WLS) with two-sided
    ``1 − alpha`` t-intervals on k − 2 df: ``a`` is the summed start effect (in the gain's unit ×
    steps), ``b`` the per-step diffuse part. NaN where fewer than 3 lengths have a finite gain and
    a positive SE. Keys :data:`FIT_COLUMNS`."""
    import statsmodels.api as sm

    L, g, s = (np.asarray(x, dtype=float) for x in (lengths, gains, ses))
    ok = np.isfinite(L) & np.isfinite(g) & np.isfinite(s) & (s > 0) & (L > 0)
    k = int(ok.sum())
    if k < 3:
        return {c: (k if c == "k" else np.nan) for c in FIT_COLUMNS}
    X = np.column_stack([1.0 / L[ok], np.ones(k)])
    res = sm.WLS(g[ok], X, weights=1.0 / s[ok] ** 2).fit()
    ci = res.conf_int(alpha)
    return {"a": float(res.params[0]), "a_low": float(ci[0, 0]), "a_high": float(ci[0, 1]),
            "b": float(res.params[1]), "b_low": float(ci[1, 0]), "b_high": float(ci[1, 1]), "k": k,
            "df": float(res.df_resid)}
