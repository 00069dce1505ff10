"""Protocol v2 (issue 9) on hand-built tables whose answers are known: practical significance,
t-intervals that agree with their verdicts, the regime gate, clean-loss C1-faster, H4's two
differences-in-differences, the DerSimonian–Laird pooled estimate, power, and the report."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.power import TTestPower
from test_claims_analysis import make_sweep, write_run

from replication.analysis import collect
from replication.analysis import stats as S
from replication.studies.claims import claims as C
from replication.studies.claims import summaries as M
from replication.studies.runner import analyze

BLOG = ("zero", "noisy", "learned", "learned_noisy")


def fake_runs(effects: dict[str, float], dataset="ds", n=10, noise=0.01, base=1.0, seed=0, metric="test_at_best",
              best_at_last: float = 0.0, epochs=20, **columns) -> pd.DataFrame:
    """Runs whose ``metric`` is base·(1 + effect[label]) + a per-seed offset shared by all strategies
    + the strategy's own noise (sd ``noise``·base). A fraction ``best_at_last`` of them peak at their
    last epoch, the others halfway."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.05 * base, n)
    rows, k = [], 0
    total = n * len(effects)
    for label, eff in effects.items():
        own = rng.normal(0, noise * base, n)
        for s in range(n):
            at_last = k < round(best_at_last * total)
            k += 1
            value = base * (1 + eff) + shared[s] + own[s]
            rows.append(dict(dataset=dataset, label=label, strategy=label, seed=s, diverged=False, task="forecast",
                             epochs_run=epochs, best_epoch=epochs - 1 if at_last else epochs // 2,
                             best_val_loss=value, **{metric: value}, **columns))
    return pd.DataFrame(rows)


def verdict(table, claim, dataset="ds"):
    v = C.verdicts(table)
    return v[(v.claim == claim) & (v.dataset == dataset)]["verdict"].iloc[0]


def test_holm_by_hand():
    # sorted p: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> monotone .02 .03 .06 .06
    np.testing.assert_allclose(S.holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(S.holm(np.array([0.5, np.nan])), [0.5, np.nan])


def test_a_significant_but_tiny_effect_is_negligible():
    """+0.01% of zero's loss, measured very precisely: significant, yet practically nothing."""
    runs = fake_runs({"zero": 0, "noisy": 1e-4, "learned": 1e-4, "learned_noisy": 1e-4}, noise=1e-6)
    t = C.comparisons(runs)
    g = t[t.claim == "C1-generalize"]
    assert (g.p_holm < 1e-6).all() and (g.verdict == "negligible").all()
    assert g.rel_pct.to_numpy() == pytest.approx([0.01] * 3, abs=1e-3)
    assert verdict(t, "C1-generalize") == "negligible"


def test_a_clear_five_percent_loss_increase_is_worse():
    runs = fake_runs({"zero": 0, "noisy": 0.05, "learned": 0.05, "learned_noisy": 0.05}, noise=0.005)
    t = C.comparisons(runs)
    assert (t[t.claim == "C1-generalize"].verdict == "worse").all()
    assert verdict(t, "C1-generalize") == "contradicted"
    assert t[t.claim == "C2"].verdict.iloc[0] == "negligible"  # learned − noisy = 0 ± 0.2%


def test_single_comparison_interval_is_scipys_t_interval():
    runs = fake_runs({"zero": 0, "learned": -0.02, "noisy": 0.0})
    row = C.comparisons(runs).query("claim == 'C2'").iloc[0]  # a family of one: no adjustment
    a = runs[runs.label == "learned"].sort_values("seed").test_at_best.to_numpy()
    b = runs[runs.label == "noisy"].sort_values("seed").test_at_best.to_numpy()
    d = a - b
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (row.ci_low, row.ci_high, row.level) == pytest.approx((lo, hi, 0.95))
    assert row.p == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert row.rel_pct == pytest.approx(100 * d.mean() / runs[runs.label == "zero"].test_at_best.mean())


def test_intervals_and_verdicts_never_disagree_on_random_tables():
    rng = np.random.default_rng(1)
    rows = []
    for i in range(120):
        labels = ["zero", *rng.choice(["noisy", "learned", "learned_noisy", "adaptive"], rng.integers(1, 5), replace=False)]
        eff = {lab: (0.0 if lab == "zero" else float(rng.normal(0, 0.02))) for lab in labels}
        runs = fake_runs(eff, n=int(rng.integers(2, 13)), noise=float(rng.uniform(0.001, 0.03)), seed=i)
        rows.append(C.comparisons(runs, delta=float(rng.choice([0.005, 0.01, 0.02]))))
    t = pd.concat(rows)
    assert set(t.verdict) == {"better", "worse", "negligible", "inconclusive"}
    t = t[(t.p_holm - S.ALPHA).abs() > 1e-9]
    excludes0 = (t.ci_low > 0) | (t.ci_high < 0)
    inside = (t.ci_low > -t.delta) & (t.ci_high < t.delta)
    assert (excludes0 == (t.p_holm < S.ALPHA)).all()
    assert (inside == (t.p_equiv < S.ALPHA)).all()
    assert (inside == (t.verdict == "negligible")).all()
    assert ((t.verdict == "better") == (~inside & (t.ci_high < 0))).all()
    assert ((t.verdict == "worse") == (~inside & (t.ci_low > 0))).all()
    sizes = t.groupby(["claim", "family"])["a"].transform("size")
    assert ((t.level >= 1 - S.ALPHA - 1e-12) & (t.level <= 1 - S.ALPHA / sizes + 1e-12)).all()


def test_in_training_loss_inflated_by_noise_is_not_slower(tmp_path):
    """noisy's in-training loss carries +0.3 of its own noise; its clean curve equals zero's."""
    for s in range(6):
        jitter = 1e-4 * ((s * 5) % 3)
        for label in BLOG:
            noise = 0.3 if "noisy" in label else 0.0
            write_run(tmp_path, "ds", label, s, clean=(2.0 + jitter, 1.5 + jitter, 1.2 + jitter), noise=noise,
                      best_epoch=1)
    runs, _, _ = collect(tmp_path)
    t = C.comparisons(runs)
    fast = t[t.claim == "C1-faster"].set_index("a")
    assert fast.loc["noisy", "verdict"] == "negligible" and fast.loc["noisy", "rel_pct"] == pytest.approx(0, abs=0.01)
    assert fast.loc["noisy", "in_training_rel_pct"] > 15  # the secondary, labelled column shows the inflation
    assert verdict(t, "C1-faster") == "negligible"


def test_auc_uses_the_common_horizon_of_a_dataset(tmp_path):
    """Early stopping: a run that stopped sooner is compared on the epochs every run has."""
    write_run(tmp_path, "ds", "zero", 0, clean=(2.0, 1.0, 0.5, 0.4))
    write_run(tmp_path, "ds", "learned", 0, clean=(2.0, 1.0))
    runs, _, _ = collect(tmp_path)
    assert (runs.auc_epochs == 2).all() and runs.auc_train_clean.to_numpy() == pytest.approx([1.5, 1.5])


@pytest.mark.parametrize(("at_last", "gated"), [(0.7, True), (0.2, False)])
def test_regime_gate(at_last, gated):
    runs = fake_runs({"zero": 0, "noisy": -0.05, "learned": -0.05, "learned_noisy": -0.05}, noise=0.003,
                     best_at_last=at_last, auc_train_clean=1.0)
    runs.loc[runs.label != "zero", "auc_train_clean"] = 0.9 + 0.001 * runs.seed
    t = C.comparisons(runs)
    reg = M.regime(runs).set_index("dataset")
    assert reg.loc["ds", "peak_before_last"] == pytest.approx(1 - at_last)
    v = C.verdicts(t, reg.reset_index()).set_index("claim")
    if gated:
        assert v.loc["C1-generalize", "verdict"] == "out of regime" and v.loc["C2", "verdict"] == "out of regime"
        assert v.loc["C1-generalize", "peak_before_last"] == pytest.approx(0.3)
    else:
        assert v.loc["C1-generalize", "verdict"] == "supported"
    assert v.loc["C1-faster", "verdict"] == "supported"  # not gated: speed is no overfitting claim


def test_adaptive_is_exploratory_not_in_the_bundle():
    runs = fake_runs({"zero": 0, "noisy": -0.05, "learned": -0.05, "learned_noisy": -0.05, "adaptive": 0.05},
                     noise=0.003)
    v = C.verdicts(C.comparisons(runs)).set_index("claim")
    assert v.loc["C1-generalize", "verdict"] == "supported" and v.loc["C1-generalize", "comparisons"] == 3
    assert v.loc["C1-generalize [adaptive]", "verdict"] == "contradicted"
    assert v.loc["C1-generalize [adaptive]", "exploratory"] and not v.loc["C1-generalize", "exploratory"]


def test_c3_equivalence_mapping():
    same = C.comparisons(fake_runs({"zero": 0, "learned": 0.0, "learned_noisy": 0.0}, noise=0.001))
    assert verdict(same, "C3") == "supported"
    apart = C.comparisons(fake_runs({"zero": 0, "learned": 0.0, "learned_noisy": -0.05}, noise=0.003))
    assert verdict(apart, "C3") == "contradicted"
    vague = C.comparisons(fake_runs({"zero": 0, "learned": 0.0, "learned_noisy": 0.0}, noise=0.05, n=4))
    assert verdict(vague, "C3") == "inconclusive"


def test_h4_two_differences_in_differences():
    """Learning helps by 5% only in the short-many arm, noise by 5% only in the long-few arm."""
    short = fake_runs({"zero": 0, "noisy": 0.0, "learned": -0.05}, dataset="synthetic_short", noise=0.003)
    long = fake_runs({"zero": 0, "noisy": -0.05, "learned": 0.0}, dataset="synthetic_long", noise=0.003, seed=1)
    t = C.comparisons(pd.concat([short, long]))
    h4 = t[t.claim == "H4"].set_index("a")
    assert h4.loc["learned", "rel_pct"] == pytest.approx(-5, abs=0.5) and h4.loc["learned", "verdict"] == "better"
    assert h4.loc["noisy", "rel_pct"] == pytest.approx(5, abs=0.5) and h4.loc["noisy", "verdict"] == "worse"
    assert verdict(t, "H4", "synthetic") == "supported"


def test_h4_noise_hurting_the_short_arm_is_not_learning_helping():
    """v1's single (learned − noisy) contrast called this H4's direction; v2 separates the halves."""
    short = fake_runs({"zero": 0, "noisy": 0.05, "learned": 0.0}, dataset="synthetic_short", noise=0.003)
    long = fake_runs({"zero": 0, "noisy": 0.0, "learned": 0.0}, dataset="synthetic_long", noise=0.003, seed=1)
    t = C.comparisons(pd.concat([short, long]))
    h4 = t[t.claim == "H4"].set_index("a")
    assert h4.loc["learned", "verdict"] == "negligible" and h4.loc["noisy", "verdict"] == "worse"
    assert verdict(t, "H4", "synthetic") == "inconclusive"


def test_h4_early_position_endpoint_and_pooled_over_pairs():
    parts = []
    for k, (short, long) in enumerate(C.PAIRS.values()):
        for ds, eff in ((short, {"zero": 0, "noisy": 0.0, "learned": -0.04}), (long, {"zero": 0, "noisy": 0, "learned": 0})):
            r = fake_runs(eff, dataset=ds, noise=0.003, seed=k)
            r["test_early_at_best"] = r["test_at_best"] * 2
            parts.append(r)
    t = C.comparisons(pd.concat(parts))
    assert set(t[t.claim == "H4-early"].dataset) == set(C.PAIRS)
    pooled = M.pooled(t).set_index(["claim", "a"])
    assert pooled.loc[("H4", "learned"), "k"] == 3
    assert pooled.loc[("H4", "learned"), "estimate"] == pytest.approx(-4, abs=0.5)


def test_random_effects_against_a_hand_computed_dersimonian_laird():
    # y = 1, 2, 4 with variance 1: Q = 42/9, C = 3 − 3/3 = 2, tau² = (Q − 2)/2 = 4/3,
    # w* = 1/(1 + 4/3) = 3/7 each: estimate 7/3, SE = sqrt(1/(3·3/7)) = sqrt(7/9).
    r = S.random_effects([1.0, 2.0, 4.0], [1.0, 1.0, 1.0])
    se = np.sqrt(7 / 9)
    assert (r["estimate"], r["se"], r["tau2"], r["k"]) == pytest.approx((7 / 3, se, 4 / 3, 3))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((7 / 3 - 1.959964 * se, 7 / 3 + 1.959964 * se))
    # Unequal variances, by the formulas: y = 0, 3; v = 1, 2.
    y, v = np.array([0.0, 3.0]), np.array([1.0, 2.0])
    w = 1 / v
    q = (w * (y - (w * y).sum() / w.sum()) ** 2).sum()
    tau2 = max(0.0, (q - 1) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    r = S.random_effects(y, v)
    assert r["tau2"] == pytest.approx(tau2) and r["estimate"] == pytest.approx((ws * y).sum() / ws.sum())
    assert r["se"] == pytest.approx(ws.sum() ** -0.5)
    # Less spread than chance (Q < df): tau² is 0, not negative, and the estimate the weighted mean.
    y, v = np.array([1.0, 1.01, 0.99]), np.array([1.0, 2.0, 1.0])
    r = S.random_effects(y, v)
    assert r["tau2"] == 0 and r["estimate"] == pytest.approx((y / v).sum() / (1 / v).sum())
    assert r["se"] == pytest.approx((1 / v).sum() ** -0.5)


def test_pooled_comparison_uses_percent_effects_and_their_standard_errors():
    runs = pd.concat([fake_runs({"zero": 0, "learned": e, "noisy": 0}, dataset=f"d{i}", seed=i, base=b)
                      for i, (e, b) in enumerate([(-0.02, 1.0), (0.0, 3.0), (-0.01, 0.5)])])
    t = C.comparisons(runs)
    rows = t[(t.claim == "C1-generalize") & (t.a == "learned")]
    hand = S.random_effects(rows.rel_pct, rows.rel_se**2)
    p = M.pooled(t).query("claim == 'C1-generalize' and a == 'learned' and subset == 'all'").iloc[0]
    assert (p.estimate, p.ci_low, p.ci_high, p.k) == pytest.approx((hand["estimate"], hand["ci_low"], hand["ci_high"], 3))


def test_minimum_detectable_effect():
    runs = fake_runs({"zero": 0, "noisy": 0, "learned": 0, "learned_noisy": 0}, n=10, noise=0.01)
    t = C.comparisons(runs)
    p = M.power(runs, t).set_index("dataset").loc["ds"]
    d_sd = TTestPower().solve_power(nobs=10, alpha=0.05 / 3, power=0.8, alternative="two-sided")
    assert p.seeds == 10 and p.family == 3 and p.mde_sd == pytest.approx(d_sd, rel=1e-4)
    g = t[t.claim == "C1-generalize"]
    sd_pct = np.sqrt((g.rel_se**2 * g.n).mean())  # rms paired SD, % of zero
    assert p.mde_pct_test == pytest.approx(d_sd * sd_pct, rel=1e-4)
    # n = 3, where statsmodels' solve_power stops early (and its power is NaN in places): the power
    # at the MDE, by simulation of the paired t-test, is 80%.
    e = S.mde_sd(3, 0.05 / 3)
    d = np.random.default_rng(0).normal(e, 1.0, (200_000, 3))
    p = sps.ttest_1samp(d, 0.0, axis=1).pvalue
    assert (p < 0.05 / 3).mean() == pytest.approx(0.8, abs=0.005)
    assert np.isnan(S.mde_sd(1, 0.05))


def test_sensitivity_to_the_margin():
    """A precise +1.5% effect: worse at δ = 0.5% and 1%, negligible at 2%."""
    runs = fake_runs({"zero": 0, "noisy": 0.015, "learned": 0.015, "learned_noisy": 0.015}, noise=0.0005)
    sens = C.sensitivity(runs, M.regime(runs)).set_index("claim")
    assert list(sens.loc["C1-generalize", ["δ=0.5%", "δ=1%", "δ=2%"]]) == ["contradicted", "contradicted", "negligible"]


def test_report_prints_protocol_before_results_and_the_v1_appendix(tmp_path):
    sw = make_sweep(tmp_path / "sw", datasets=("synthetic_short", "synthetic_long"), seeds=4)
    v1 = tmp_path / "out_v1" / "verdicts.csv"  # the claims study reads v1 from <out>_v1/ beside its output
    v1.parent.mkdir()
    pd.DataFrame({"claim": ["C2"], "dataset": ["synthetic_short"], "verdict": ["supported"], "comparisons": [1]}).to_csv(v1, index=False)
    analyze("default", sw, tmp_path / "out")
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert text.index("Protocol v2") < text.index("## Should I learn") < text.index("## Verdicts")
    assert "after the v1 results" in text and "Appendix" in text and "| C2 | synthetic_short | supported |" in text
    for name in ("sensitivity", "pooled", "regime_power", "comparisons", "verdicts"):
        assert (tmp_path / "out" / f"{name}.csv").exists()
    assert (tmp_path / "out" / "figures" / "forest_plot.png").exists()
    analyze("default", sw, tmp_path / "out2")
    assert "Appendix" not in (tmp_path / "out2" / "REPORT.md").read_text()


@pytest.mark.parametrize("effect", [0.08, 0.0])
def test_answer_follows_the_numbers(tmp_path, effect):
    labels = ("zero", "noisy", "learned", "learned_noisy")
    sw = tmp_path / "sw"
    for s in range(6):
        for lab in labels:
            # peak before the last epoch: in regime; learned shifts the test loss by `effect`
            write_run(sw, "ds", lab, s, clean=(2.0, 1.0, 0.9, 1.0), best_epoch=2,
                      test=1.0 + 0.01 * s + (effect if lab == "learned" else 0.0) + 1e-5 * (s % 3))
    analyze("default", sw, tmp_path / "out")
    text = (tmp_path / "out" / "REPORT.md").read_text()
    answer = text[text.index("## Should I learn"):text.index("## Verdicts")]
    if effect:
        assert "worse on 1 of 1" in answer and "+7.80%" in answer
    else:
        assert "negligible on 1 of 1" in answer
