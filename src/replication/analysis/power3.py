"""Protocol v3's power per dataset, in each task's own metric: the minimum detectable effect of the
difference test (:func:`.stats.mde_sd`, statsmodels ``TTestPower`` with v2's fallback), the power of
the equivalence test at the seeds used (:func:`tost_power`) and the seeds either test would need to
reach δ (:func:`seeds_needed`).

Levels follow the grading rule: in a family of m comparisons Holm's strictest step tests at α/m, and
"negligible" needs the interval at level 1 − α/m inside ±δ, i.e. each one-sided test of the TOST pair
at α/(2m). statsmodels has no power function for TOST; :func:`tost_power` integrates the exact
condition over the sample variance (Owen 1965; Phillips 1990)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.integrate import quad

from . import stats as S
from .protocol3 import ALPHA, POWER

MAX_SEEDS = 100_000  # beyond this "seeds needed" is reported as > MAX_SEEDS (NaN)
POWER_COLUMNS = ["dataset", "task", "unit", "seeds", "family", "delta", "paired_sd", "mde_sd", "mde",
                 "mde_over_delta", "tost_power", "seeds_difference", "seeds_equivalence"]


def tost_power(delta_sd: float, n: int, alpha_one: float, theta_sd: float = 0.0) -> float:
    """Probability that the t-interval of a paired mean (n pairs, df n − 1) at one-sided level
    ``alpha_one`` on each side lies inside (−δ, δ), for a true effect ``theta_sd``; δ and θ in SDs of
    the paired difference. With Z = √n(x̄ − θ)/σ ~ N(0, 1) and V = (n − 1)s²/σ² ~ χ²(n − 1), it is
    E_V[max(0, Φ(√n(δ − θ) − c√(V/df)) − Φ(−√n(δ + θ) + c√(V/df)))], c = t_{1−α, df}."""
    if n < 2 or not delta_sd > 0:
        return 0.0
    df = n - 1
    c = float(stats.t.ppf(1 - alpha_one, df))
    rn = np.sqrt(n)

    def f(v: float) -> float:
        s = c * np.sqrt(v / df)
        return max(0.0, stats.norm.cdf(rn * (delta_sd - theta_sd) - s) - stats.norm.cdf(-rn * (delta_sd + theta_sd) + s)) \
            * stats.chi2.pdf(v, df)

    # the integrand vanishes once c·√(V/df) ≥ √n·δ (the interval is then wider than ±δ)
    v_max = df * (rn * delta_sd / c) ** 2
    return float(quad(f, 0, v_max, limit=200)[0])


def _first_n(ok, lo: int = 2) -> float:
    """The smallest n ≥ lo with ``ok(n)`` (assumed monotone), by doubling and bisection; NaN past
    :data:`MAX_SEEDS`."""
    if ok(lo):
        return float(lo)
    hi = lo
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_SEEDS:
            return np.nan
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return float(hi)


def seeds_needed(delta_sd: float, alpha_two: float, power: float = POWER) -> tuple[float, float]:
    """``(difference, equivalence)``: the fewest paired seeds at which a true effect of δ is detected
    by the two-sided paired t-test at ``alpha_two`` with probability ``power``, and at which a true
    effect of 0 is declared inside ±δ (:func:`tost_power` at ``alpha_two / 2``) with that probability."""
    if not (np.isfinite(delta_sd) and delta_sd > 0):
        return np.nan, np.nan
    diff = _first_n(lambda n: S.power_paired(delta_sd, n, alpha_two) >= power)
    equiv = _first_n(lambda n: tost_power(delta_sd, n, alpha_two / 2) >= power)
    return diff, equiv


def power_table(table: pd.DataFrame, alpha: float = ALPHA, claim: str = "C1-generalize") -> pd.DataFrame:
    """Per dataset (columns :data:`POWER_COLUMNS`), from the graded v3 comparisons
    (:func:`.comparisons3.comparisons`, primary endpoint) of the C1-generalize bundle: seeds (median
    n), family size m, δ and the RMS paired SD (se·√n) in the task's unit, the MDE at 80% power at α/m
    (in SDs and in the unit, and over δ), the TOST power at the seeds used for a true effect of 0,
    and the seeds each test needs. The family is ``claim``'s confirmatory rows (exploratory rows,
    e.g. adaptive's, are their own families)."""
    rows = table[(table["claim"] == claim) & ~table["exploratory"].astype(bool)
                 & (table["endpoint"] == "primary")] if len(table) else table
    out = []
    for ds, g in rows.groupby("dataset") if len(rows) else []:
        n, m = int(g["n"].median()), len(g)
        sd = float(np.sqrt((g["se"] ** 2 * g["n"]).mean()))
        delta = float(g["delta"].iloc[0])
        a = alpha / m
        d_sd = S.mde_sd(n, a)
        dsd = delta / sd if sd > 0 else np.inf
        need = seeds_needed(dsd, a)
        out.append({"dataset": ds, "task": g["task"].iloc[0], "unit": g["unit"].iloc[0], "seeds": n, "family": m,
                    "delta": delta, "paired_sd": sd, "mde_sd": d_sd, "mde": d_sd * sd, "mde_over_delta": d_sd * sd / delta,
                    "tost_power": tost_power(dsd, n, a / 2), "seeds_difference": need[0],
                    "seeds_equivalence": need[1]})
    return pd.DataFrame(out, columns=POWER_COLUMNS)
