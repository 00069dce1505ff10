"""Protocol v3's verdict rules (issue 18) on small hand-built tables whose answers are computed here by
hand (scipy quantiles, textbook formulas): δ in each task's own metric, graded verdicts monotone in
precision, Holm's family, Welch's df, the fallback scale, claim grades and the study-wide check."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from replication.analysis import grading as G
from replication.analysis import multiplicity as U
from replication.analysis.protocol3 import DELTA
from replication.studies.claims import comparisons3 as C

Z5 = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / math.sqrt(2.5)  # mean 0, sample SD 1


def runs(dataset: str, task: str, **cols) -> pd.DataFrame:
    """One row per (label, seed): ``cols`` maps a runs.csv column to {label: per-seed values}."""
    first = next(iter(cols.values()))
    rows = []
    for label, vals in first.items():
        for s in range(len(vals)):
            rows.append({"dataset": dataset, "task": task, "label": label, "seed": s, "diverged": False,
                         **{c: float(v[label][s]) for c, v in cols.items()}})
    return pd.DataFrame(rows)


def t_interval(d, level_alpha):
    d = np.asarray(d, dtype=float)
    h = sps.t.ppf(1 - level_alpha / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean() - h, d.mean() + h


def row(t, claim, a, family=None):
    r = t[(t.claim == claim) & (t.a == a)]
    return r[r.family == family].iloc[0] if family else r.iloc[0]


def test_each_grade_by_hand():
    cases = {(-3, -2): "better, relevant", (-3, -0.5): "better, uncertain size", (-0.6, -0.3): "better, small",
             (-0.5, 0.5): "negligible", (0.1, 0.9): "worse, small", (0.1, 1.7): "worse, uncertain size",
             (1.2, 2): "worse, relevant", (-0.5, 1.5): "inconclusive", (-2, 2): "inconclusive"}
    for (lo, hi), want in cases.items():
        assert G.grade_interval(lo, hi, 1.0) == want, (lo, hi)
    assert set(cases.values()) == set(G.GRADES)


def _touched(lo, hi, d):
    """Regions A..G of the line cut at −d, 0, +d that [lo, hi] meets (independent of grading)."""
    pts = {"B": -d, "D": 0.0, "F": d}
    out = {k for k, p in pts.items() if lo <= p <= hi}
    for k, (a, b) in {"A": (-np.inf, -d), "C": (-d, 0.0), "E": (0.0, d), "G": (d, np.inf)}.items():
        if lo < b and hi > a:
            out.add(k)
    return frozenset(out)


def test_nested_intervals_only_sharpen_the_grade():
    """Over a grid of estimates and nested half-widths: a grade never rules out a value inside its
    interval, a nested interval's grade leaves a subset possible (so it never loses "exists" or
    "relevant"), and the narrowest interval gets the estimate's own grade.
    Planted bug caught: v2's precedence (inside ±δ → negligible before checking 0), which graded
    [−0.61, −0.33] negligible inside a "better" [−1.03, −0.14]."""
    d = 1.0
    for est in np.linspace(-2.37, 2.37, 41):
        widths = np.geomspace(4.0, 1e-4, 30)
        gs = [G.grade_interval(est - w, est + w, d) for w in widths]
        for w, g in zip(widths, gs):
            assert _touched(est - w, est + w, d) <= G.POSSIBLE[g], (est, w, g)
        for outer, inner in zip(gs, gs[1:]):
            assert G.POSSIBLE[inner] <= G.POSSIBLE[outer], (est, outer, inner)
            if outer.split(", ")[-1] in G.EXISTS:
                assert inner.split(", ")[-1] in G.EXISTS and inner.split(",")[0] == outer.split(",")[0]
            if outer.endswith("relevant"):
                assert inner == outer
        own = "negligible" if est == 0 else ("better" if est < 0 else "worse") + (
            ", relevant" if abs(est) > d else ", small")
        assert gs[-1] == own, (est, gs[-1])
    assert G.grade_interval(-1.03, -0.14, d) == "better, uncertain size"
    assert G.grade_interval(-0.61, -0.33, d) == "better, small"


@pytest.mark.parametrize("loss", [4.987, 5.5])
def test_a_word_lm_gain_of_047_percent_is_relevant_not_negligible(loss):
    """r2rt_cpu: learned − zero = −0.47% [−0.61, −0.33] of a ~5 nats/token test loss. By hand: the
    upper end is −0.0033·L nats, below −ln(1.01) = −0.00995 whenever L > 3.0; in perplexity
    exp(−0.0047·4.987) − 1 = −2.3%. Planted bug caught: v2's relative δ (1% of zero's loss,
    0.050 nats: the interval lies inside it, graded "better, small")."""
    mean, half = -0.004669 * loss, (0.006078 - 0.003259) / 2 * loss
    sd = half / (sps.t.ppf(0.975, 4) / math.sqrt(5))
    zero = loss + np.array([0.03, -0.01, 0.02, -0.04, 0.0])
    t = C.comparisons(runs("words", "lm", test_at_best={"zero": zero, "learned": zero + mean + sd * Z5}))
    r = row(t, "C1-generalize", "learned")
    lo, hi = t_interval(mean + sd * Z5, 0.05)
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-9)
    assert hi < -math.log(1.01) and r.delta == pytest.approx(0.00995, abs=5e-6)
    assert -0.01 * zero.mean() < lo  # inside v2's margin
    assert r.grade == "better, relevant" and r.unit == "nats/token"
    assert r.est_display == pytest.approx(100 * math.expm1(mean))
    assert C.claims(t).set_index("claim").loc["C1-generalize", "grade"] == "as claimed, relevant"


def test_classification_is_judged_on_error_points():
    """Error +0.5 points (δ = 1 point) while the log-loss rises 5% (δ = 1%): primary "worse, small",
    secondary "worse, relevant". Planted bug caught: log-loss as the primary endpoint."""
    rng = np.random.default_rng(3)
    acc0 = 0.96 + rng.normal(0, 0.01, 10)
    acc1 = acc0 - 0.005 + rng.normal(0, 0.0005, 10)
    ll0 = 0.2 + rng.normal(0, 0.01, 10)
    r = runs("jv", "classify", test_acc_at_best={"zero": acc0, "learned": acc1},
             test_at_best={"zero": ll0, "learned": ll0 * 1.05})
    p = row(C.comparisons(r), "C1-generalize", "learned")
    assert p.unit == "error-rate points" and p.delta == 1.0
    assert p.mean_diff == pytest.approx(100 * np.mean(acc0 - acc1))
    assert (p.ci_low, p.ci_high) == pytest.approx(t_interval(100 * (acc0 - acc1), 0.05), abs=1e-9)
    assert p.grade == "worse, small"
    s = row(C.comparisons(r, "secondary"), "C1-generalize", "learned")
    assert s.mean_diff == pytest.approx(5.0 * ll0.mean() / ll0.mean()) and s.grade == "worse, relevant"


def test_holm_family_is_one_claim_on_one_dataset():
    """Dataset A: two huge effects and learned at p ≈ 0.03; dataset B: three at p ≈ 0.76. Within A,
    learned is Holm's last step (factor 1): 95% interval [0.05, 0.95]% → "worse, small". Over A and
    B together it would rank 3rd of 6 (factor 4) and read inconclusive.
    Planted bug caught: the family widened to the claim across datasets."""
    z10 = np.array([-1.5, -1.2, -0.9, -0.6, -0.3, 0.3, 0.6, 0.9, 1.2, 1.5])
    z10 = z10 / z10.std(ddof=1)
    zero = 1.0 + np.array([0.02, -0.02] * 5)  # mean exactly 1: % of zero = 100·raw
    a = {"zero": zero, "noisy": zero + 0.05 + 0.001 * z10, "learned": zero + 0.005 + 0.00632 * z10,
         "learned_noisy": zero + 0.06 + 0.001 * z10}
    b = {k: zero + (0.0003 + 0.003 * z10 if k != "zero" else 0) for k in a}
    t = C.comparisons(pd.concat([runs("A", "forecast", test_at_best=a), runs("B", "forecast", test_at_best=b)]))
    r = row(t, "C1-generalize", "learned", "A")
    d = 100 * (a["learned"] - zero)
    p = 2 * sps.t.sf(abs(d.mean()) / (d.std(ddof=1) / math.sqrt(10)), 9)
    assert 0.02 < p < 0.04 and r.p == pytest.approx(p)
    assert r.holm_factor == pytest.approx(1.0) and r.p_holm == pytest.approx(p)
    assert (r.ci_low, r.ci_high) == pytest.approx(t_interval(d, 0.05), abs=1e-9)
    assert r.grade == "worse, small"
    assert G.grade_interval(*t_interval(d, 0.05 / 4), 1.0) == "inconclusive"  # what the wide family gives


def welch_hand(x, y):
    vx, vy = np.var(x, ddof=1) / len(x), np.var(y, ddof=1) / len(y)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return np.mean(x) - np.mean(y), math.sqrt(vx + vy), df


def test_h4_welch_df_and_its_contradicted_and_negligible_grades():
    """synthetic: DiD_learned = −3.9 points (4 vs 3 seeds, Welch df ≈ 2.8) and DiD_noisy < 0 (H4
    predicts > 0): "against the claim". treering: all effects ≈ 0 precisely: "negligible".
    Planted bug caught: Welch's df replaced by 1000 (the interval shrinks by ~40%)."""
    z = lambda n: np.ones(n)  # noqa: E731 - zero's MSE is 1 on every seed: % = 100·raw
    ss = {"zero": z(4), "learned": 1 + np.array([-0.03, -0.025, -0.02, -0.015]),
          "noisy": 1 + np.array([-0.05, -0.045, -0.04, -0.05])}
    sl = {"zero": z(3), "learned": 1 + np.array([0.005, 0.015, 0.03]), "noisy": 1 + np.array([0.0, 0.005, 0.01])}
    eps = np.array([1e-5, -1e-5, 2e-5, -2e-5])
    ts = {k: 1 + (0 * eps if k == "zero" else eps) for k in ("zero", "learned", "noisy")}
    tl = {k: v[:3] for k, v in ts.items()}
    r = pd.concat([runs(n, "forecast", test_at_best=v) for n, v in
                   (("synthetic_short", ss), ("synthetic_long", sl), ("treering_windows", ts), ("treering_stateful", tl))])
    t = C.comparisons(r)
    h = row(t, "H4", "learned", "synthetic")
    est, se, df = welch_hand(100 * (ss["learned"] - 1), 100 * (sl["learned"] - 1))
    assert (h.mean_diff, h.se, h.df) == pytest.approx((est, se, df))
    c = h.holm_factor
    q = sps.t.ppf(1 - 0.05 / c / 2, df) * se
    assert (h.ci_low, h.ci_high) == pytest.approx((est - q, est + q))
    cl = C.claims(t).set_index(["claim", "family"])["grade"]
    assert cl["H4", "synthetic"].startswith("against the claim")
    assert cl["H4", "treering"] == "negligible"


def test_fewer_than_two_seeds_is_inconclusive():
    """Planted bug caught: the n < 2 rule dropped (a finite interval from one seed got graded)."""
    assert G.grade_interval(-5, -4, 1.0, n=1) == "inconclusive"
    assert G.grade_comparison(-4.5, 0.1, 5, 1, 1.0)["grade"] == "inconclusive"
    t = C.comparisons(runs("one", "forecast", test_at_best={"zero": [1.0], "learned": [0.5]}))
    assert (t.grade == "inconclusive").all()


def test_without_a_zero_run_the_relative_unit_falls_back_to_b():
    """learned_noisy − learned = +0.2 on a learned MSE of 10: +2% of learned → "worse, relevant".
    Planted bug caught: no fallback scale (NaN: inconclusive)."""
    base = 10 + np.array([0.3, -0.2, 0.1, -0.1, -0.1])
    t = C.comparisons(runs("nz", "forecast", test_at_best={"learned": base, "learned_noisy": base + 0.2 + 0.001 * Z5}))
    r = row(t, "C3", "learned_noisy")
    assert r.scale == pytest.approx(base.mean()) and r.mean_diff == pytest.approx(100 * 0.2 / base.mean())
    assert r.grade == "worse, relevant"


def test_claim_grades_orient_and_bundle():
    """C1: the weakest member decides ([max lo, max hi]); H4: DiD_noisy is expected positive.
    Planted bug caught: H4's noisy interval not flipped."""
    rows = lambda spec: pd.DataFrame([{"ci_low": lo, "ci_high": hi, "expect": e, "delta": 1.0, "n": 5}  # noqa: E731
                                      for lo, hi, e in spec])
    assert G.claim_grade(rows([(-3, -2, "lower"), (-0.6, -0.3, "lower")])) == "as claimed, small"
    assert G.claim_grade(rows([(-3, -2, "lower"), (0.2, 0.5, "lower")])) == "against the claim, small"
    assert G.claim_grade(rows([(-3, -2, "lower"), (2, 3, "higher")])) == "as claimed, relevant"
    assert G.claim_grade(rows([(-3, -2, "lower"), (-3, -2, "higher")])) == "against the claim, relevant"
    assert G.claim_grade(rows([(-3, -2, "lower"), (-1.5, -0.2, "higher")])) == "against the claim, uncertain size"
    assert G.claim_grade(rows([(-0.4, 0.6, "equal")])) == "negligible"
    assert G.supports_equivalence("better, small") and not G.supports_equivalence("inconclusive")


def test_a_study_wide_correction_flips_a_marginal_family():
    """One family at p = 0.02 among 21 comparisons (the others p ≈ 0.6): family-wise "worse, uncertain
    size"; study-wide Holm p = 21·0.02 = 0.42 and BH p = 0.42, both flip it.
    Planted bug caught: the study-wide grade read at the family-wise Holm factor."""
    se = 0.4
    est = sps.t.isf(0.01, 9) * se  # two-sided p = 0.02 on 9 df
    rows = [{"claim": "C2", "family": "A", "dataset": "A", "a": "learned", "expect": "lower",
             "mean_diff": est, "se": se, "df": 9.0, "n": 10, "delta": 1.0}]
    rows += [{"claim": "C2", "family": f"F{i}", "dataset": f"F{i}", "a": "learned", "expect": "lower",
              "mean_diff": 0.2 + 0.01 * i, "se": 0.4, "df": 9.0, "n": 10, "delta": 1.0} for i in range(20)]
    t = U.study_wide(G.grade_table(pd.DataFrame(rows)))
    a = t.iloc[0]
    assert a.p == pytest.approx(0.02) and a.grade == "worse, uncertain size"
    assert a.p_holm_study == pytest.approx(0.42) and a.p_bh_study == pytest.approx(0.42)
    assert a.grade_study == "inconclusive" and a.changed_holm and a.changed_bh
    ch = U.changed(G.grade_table(pd.DataFrame(rows)))
    assert list(ch.family) == ["A"] and ch.grade_study.iloc[0] == "inconclusive"
    assert DELTA["lm"] == pytest.approx(math.log(1.01))


def test_h4_early_uses_the_persistence_window_when_every_member_has_it():
    """The fixed first-k column says no early effect; the window column carries one. H4-early must be
    computed from the window column (planted bug caught: the override removed, the grade stays on
    the fixed-k column); without the column on one member it falls back to the fixed k."""
    one = np.ones(4)
    eps = np.array([1e-4, -1e-4, 2e-4, -2e-4])
    fixed = {k: one + eps for k in ("zero", "learned", "noisy")}
    window_s = {"zero": one, "learned": one - 0.2 + eps, "noisy": one + eps}  # short: learned −20%
    window_l = {"zero": one, "learned": one + eps, "noisy": one + eps}
    r = pd.concat([runs("synthetic_short", "forecast", test_at_best=fixed, test_early_at_best=fixed,
                        test_early_window=window_s),
                   runs("synthetic_long", "forecast", test_at_best=fixed, test_early_at_best=fixed,
                        test_early_window=window_l)])
    h = row(C.comparisons(r), "H4-early", "learned", "synthetic")
    assert h.column == "test_early_window"
    assert h.mean_diff == pytest.approx(-20.0, abs=0.01)
    r.loc[r["dataset"] == "synthetic_long", "test_early_window"] = np.nan
    h = row(C.comparisons(r), "H4-early", "learned", "synthetic")
    assert h.column == "test_early_at_best" and abs(h.mean_diff) < 0.1
