"""Protocol v3's graded verdicts: one vocabulary (:data:`VOCABULARY`) for a comparison and for a claim,
read off a confidence interval and the margin δ so that more precision can only sharpen a grade.

Each grade names the set of true effects it leaves possible (:data:`POSSIBLE`, over the regions
:data:`REGIONS` of the real line cut at −δ, 0 and +δ). The interval's grade is the smallest such set
that holds the whole interval, so (i) a grade never rules out a value inside its own interval, and
(ii) a nested interval's grade leaves a subset possible: shrinking an interval around its estimate
moves its grade only towards the estimate's own grade, and an interval that excludes 0 (or lies
beyond δ) keeps doing so when it gets more precise. The test suite checks both on nested grids."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats as S
from .protocol3 import ALPHA

# direction words: negative (a's loss lower / as the claim predicts), positive
DIRECTIONS = {"comparison": ("better", "worse"), "claim": ("as claimed", "against the claim")}
SIZES = ("relevant", "uncertain size", "small")
VOCABULARY = {
    "relevant": "the interval lies wholly beyond δ (beyond −δ for a gain, +δ for a harm)",
    "uncertain size": "the interval excludes 0 but contains −δ or +δ: real, size not pinned down",
    "small": "the interval excludes 0 and lies inside ±δ: real but smaller than δ",
    "negligible": "the interval contains 0 and lies inside ±δ",
    "inconclusive": "the interval contains 0 and reaches δ, or fewer than 2 paired seeds",
}


def _words(kind: str) -> tuple[str, str]:
    if kind not in DIRECTIONS:
        raise ValueError(f"unknown grade kind {kind!r}; valid choices: {', '.join(DIRECTIONS)}")
    return DIRECTIONS[kind]


def grades(kind: str = "comparison") -> tuple[str, ...]:
    """All grades of ``kind`` (comparison | claim), from the strongest gain to the strongest harm."""
    neg, pos = _words(kind)
    return (*(f"{neg}, {s}" for s in SIZES), "negligible", *(f"{pos}, {s}" for s in reversed(SIZES)),
            "inconclusive")


GRADES = grades("comparison")
CLAIM_GRADES = grades("claim")
EXISTS = {"relevant", "uncertain size", "small"}  # sizes whose interval excludes 0

# Regions of the true effect θ: A θ < −δ, B θ = −δ, C −δ < θ < 0, D θ = 0, E 0 < θ < δ, F θ = δ, G θ > δ.
REGIONS = "ABCDEFG"
_POSSIBLE_BY_SIZE = {("neg", "relevant"): "A", ("neg", "uncertain size"): "ABC", ("neg", "small"): "C",
                     ("pos", "small"): "E", ("pos", "uncertain size"): "EFG", ("pos", "relevant"): "G"}


def _possible() -> dict[str, frozenset]:
    out = {"negligible": frozenset("CDE"), "inconclusive": frozenset(REGIONS)}
    for kind in DIRECTIONS:
        for side, word in zip(("neg", "pos"), _words(kind)):
            for size in SIZES:
                out[f"{word}, {size}"] = frozenset(_POSSIBLE_BY_SIZE[side, size])
    return out


POSSIBLE = _possible()


def grade_interval(lo: float, hi: float, delta: float, n: int = 2, kind: str = "comparison") -> str:
    """The grade of the interval ``[lo, hi]`` (raw units of ``delta`` > 0); inconclusive when
    ``n < 2``, when an end is not finite, or when δ is not."""
    neg, pos = _words(kind)
    if n < 2 or not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(delta)) or lo > hi:
        return "inconclusive"
    if hi < -delta:
        return f"{neg}, relevant"
    if lo > delta:
        return f"{pos}, relevant"
    if hi < 0:
        return f"{neg}, small" if lo > -delta else f"{neg}, uncertain size"
    if lo > 0:
        return f"{pos}, small" if hi < delta else f"{pos}, uncertain size"
    return "negligible" if -delta < lo and hi < delta else "inconclusive"


def grade_comparison(est: float, se: float, df: float, n: int, delta: float, factor: float = 1.0,
                     alpha: float = ALPHA) -> dict:
    """One comparison: v2's t-interval at level ``1 − alpha/factor`` (:func:`.stats.judge`) and its
    grade. Returns ``level``, ``ci_low``, ``ci_high``, ``p_equiv`` and ``grade``."""
    j = S.judge(est, se, df, delta, factor, alpha)
    return {"level": j["level"], "ci_low": j["ci_low"], "ci_high": j["ci_high"], "p_equiv": j["p_equiv"],
            "grade": grade_interval(j["ci_low"], j["ci_high"], delta, n)}


GRADED = ["p", "p_holm", "holm_factor", "level", "ci_low", "ci_high", "p_equiv", "grade"]


def grade_table(table: pd.DataFrame, by=("claim", "family"), alpha: float = ALPHA) -> pd.DataFrame:
    """Tests, Holm within each ``by`` group (a family: one claim on one dataset) and the grade of every
    row. ``table`` needs mean_diff, se, df, n, delta (raw units); adds the :data:`GRADED` columns."""
    t = table.copy()
    for k in GRADED:
        t[k] = pd.Series(dtype=object if k == "grade" else float)
    if t.empty:
        return t
    t["p"] = [S.p_two_sided(e, s, d) for e, s, d in zip(t["mean_diff"], t["se"], t["df"])]
    keys = list(by) if len(by) > 1 else by[0]  # a single key gives scalar group keys, as before
    for _, idx in t.groupby(keys, sort=False).groups.items():
        p = t.loc[idx, "p"].to_numpy(dtype=float)
        t.loc[idx, "p_holm"] = S.holm(p)
        t.loc[idx, "holm_factor"] = S.holm_factors(p)
    return regrade(t, t["holm_factor"], alpha)


def regrade(t: pd.DataFrame, factor, alpha: float = ALPHA) -> pd.DataFrame:
    """``t`` with level, interval, p_equiv and grade recomputed at Holm factors ``factor`` (per row)."""
    t = t.copy()
    g = [grade_comparison(r.mean_diff, r.se, r.df, int(r.n), r.delta, f, alpha)
         for r, f in zip(t.itertuples(), np.asarray(factor, dtype=float))]
    for k in ("level", "ci_low", "ci_high", "p_equiv", "grade"):
        t[k] = [x[k] for x in g]
    return t


def claim_grade(rows: pd.DataFrame) -> str:
    """The grade of one claim on one dataset from its graded comparisons (ci_low, ci_high, delta, n,
    expect ∈ lower | higher | equal).

    Directional claims: each interval is oriented so that the claimed sign is negative ("higher"
    flips it), and the bundle is graded on [max lo, max hi], an interval for the least favourable
    member's effect max θᵢ (if every θᵢ ∈ [loᵢ, hiᵢ] then max loᵢ ≤ max θᵢ ≤ max hiᵢ), in claim words:
    "as claimed, relevant" = every member beyond δ the claimed way. Equivalence claims (all "equal"):
    the grade of the hull [min lo, max hi] in comparison words; inside ±δ supports the claim."""
    if rows.empty:
        return "inconclusive"
    deltas = rows["delta"].to_numpy(dtype=float)
    if not np.allclose(deltas, deltas[0]):
        raise ValueError(f"a claim's comparisons must share one δ, got {sorted(set(deltas))}")
    lo, hi = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    n = int(rows["n"].min())
    expects = set(rows["expect"])
    if expects - {"lower", "higher", "equal"}:
        raise ValueError(f"unknown expect {sorted(expects)}; valid choices: lower, higher, equal")
    if expects == {"equal"}:
        return grade_interval(lo.min(), hi.max(), deltas[0], n)
    if "equal" in expects:
        raise ValueError("a claim cannot mix equivalence ('equal') and directional comparisons")
    flip = (rows["expect"] == "higher").to_numpy()
    olo, ohi = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
    return grade_interval(olo.max(), ohi.max(), deltas[0], n, kind="claim")


def supports_equivalence(grade: str) -> bool:
    """True for the grades whose interval lies inside ±δ (negligible, or small either way)."""
    return POSSIBLE.get(grade, frozenset(REGIONS)) <= frozenset("CDE")


CLAIM_COLUMNS = ["claim", "family", "dataset", "grade", "comparisons", "detail"]


def claims_table(table: pd.DataFrame) -> pd.DataFrame:
    """One grade per claim and family of a graded table (:func:`grade_table`); columns
    :data:`CLAIM_COLUMNS`, detail = "a grade" per comparison."""
    out = []
    for (claim, family), g in table.groupby(["claim", "family"], sort=False):
        out.append({"claim": claim, "family": family, "dataset": g["dataset"].iloc[0], "grade": claim_grade(g),
                    "comparisons": len(g), "detail": ", ".join(f"{a} {v}" for a, v in zip(g["a"], g["grade"]))})
    return pd.DataFrame(out, columns=CLAIM_COLUMNS)
