"""Analysis: statistics against hand-computed values, verdict rules on runs with known effects."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replication.analysis import claims as C
from replication.analysis.collect import auc, collect


def test_holm_by_hand():
    # sorted p: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> monotone .02 .03 .06 .06
    np.testing.assert_allclose(C.holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(C.holm(np.array([0.5, np.nan])), [0.5, np.nan])


def test_auc_by_hand():
    assert auc([3.0, 2.0, 1.0]) == pytest.approx(2.0)  # trapezoid (2.5+1.5)/2
    assert auc([4.0]) == 4.0 and np.isnan(auc([]))


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    d = np.array([-0.3, -0.1, -0.2, -0.25, -0.15])
    lo, hi = C.bootstrap_ci(d)
    assert lo < d.mean() < hi < 0
    assert (lo, hi) == C.bootstrap_ci(d)
    assert C.bootstrap_ci(np.array([1.0, 1.0])) == (1.0, 1.0)


def fake_runs(effects: dict[str, float], dataset="ds", n=6, noise=0.01, base=1.0, seed=0):
    """Runs whose test loss is base + effect[label] + seed noise shared by all strategies."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.05, n)
    rows = []
    for label, eff in effects.items():
        own = rng.normal(0, noise, n)
        for s in range(n):
            loss = base + eff + shared[s] + own[s]
            rows.append(dict(dataset=dataset, label=label, strategy=label, seed=s, diverged=False, task="forecast",
                             test_at_best=loss, auc_train=loss + 0.5, best_val_loss=loss))
    return pd.DataFrame(rows)


def test_verdicts_follow_the_rules():
    runs = fake_runs({"zero": 0.0, "noisy": -0.05, "learned": -0.10, "learned_noisy": -0.10, "adaptive": -0.08})
    table = C.comparisons(runs)
    v = C.verdicts(table).set_index("claim")["verdict"]
    assert v["C1-generalize"] == "supported" and v["C1-faster"] == "supported"
    assert v["C2"] == "supported"  # learned beats noisy by 0.05 with noise 0.01
    # Paired t-test p-value equals scipy's ttest_rel on the same numbers.
    row = table[(table.claim == "C2")].iloc[0]
    a = runs[runs.label == "learned"].sort_values("seed").test_at_best.to_numpy()
    b = runs[runs.label == "noisy"].sort_values("seed").test_at_best.to_numpy()
    assert row.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert row.mean_diff == pytest.approx((a - b).mean())
    assert row.rel_pct == pytest.approx(100 * (a - b).mean() / runs[runs.label == "zero"].test_at_best.mean())


def test_contradicted_and_equivalence():
    worse = C.verdicts(C.comparisons(fake_runs({"zero": 0.0, "noisy": 0.1, "learned": 0.2}))).set_index("claim")
    assert worse.loc["C1-generalize", "verdict"] == "contradicted" and worse.loc["C2", "verdict"] == "contradicted"
    # learned_noisy within ±1% of zero's loss (tiny noise) -> C3 supported; 10% apart -> contradicted
    same = C.comparisons(fake_runs({"zero": 0.0, "learned": 0.0, "learned_noisy": 0.0005}, noise=0.0005))
    assert same[same.claim == "C3"].verdict.iloc[0] == "supported"
    apart = C.comparisons(fake_runs({"zero": 0.0, "learned": 0.0, "learned_noisy": 0.1}))
    assert apart[apart.claim == "C3"].verdict.iloc[0] == "contradicted"
    # Mean difference 0 but spread ±0.3: the CI covers the margin and more -> inconclusive.
    vague = fake_runs({"zero": 0.0, "learned": 0.0, "learned_noisy": 0.0}, noise=0.0)
    ln = vague.label == "learned_noisy"
    vague.loc[ln, "test_at_best"] += np.array([0.2, -0.2, 0.1, -0.1, 0.3, -0.3])
    t = C.comparisons(vague)
    assert t[t.claim == "C3"].verdict.iloc[0] == "inconclusive"


def test_h4_difference_in_differences():
    short = fake_runs({"zero": 0.0, "noisy": 0.0, "learned": -0.1}, dataset="synthetic_short")
    long = fake_runs({"zero": 0.0, "noisy": -0.1, "learned": 0.0}, dataset="synthetic_long", seed=1)
    t = C.comparisons(pd.concat([short, long]))
    h4 = t[t.claim == "H4"].iloc[0]
    assert h4.dataset == "synthetic" and h4.verdict == "supported"
    assert h4.short_rel_pct == pytest.approx(-10, abs=2) and h4.long_rel_pct == pytest.approx(10, abs=2)


def test_collect_reads_runs_and_epochs_to_zero(tmp_path):
    curves = {"zero": [3.0, 2.0, 1.5], "learned": [2.5, 1.4, 1.2]}
    for label, curve in curves.items():
        d = tmp_path / "ds" / label / "seed=0"
        d.mkdir(parents=True)
        rows = [{"epoch": i, "train_loss": v, "val_loss": v + 0.1, "test_loss": v + 0.2, "gap": 0.1} for i, v in enumerate(curve)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "summary.json").write_text(json.dumps({
            "data": "ds", "task": "lm", "regime": "windows", "strategy": label, "label": label, "seed": 0,
            "status": "finished", "diverged": False, "epochs_run": 3, "best_epoch": 2, "best_val_loss": curve[-1] + 0.1,
            "test_at_best": curve[-1] + 0.2, "train_at_best": curve[-1], "gap_at_best": 0.1,
            "final_train_loss": curve[-1], "position_profile": [2.0, 1.0, None], "sizes": {"train": {"sequences": 4, "steps": 40}}}))
    runs, cur, prof = collect(tmp_path)
    r = runs.set_index("label")
    assert r.loc["zero", "epochs_to_zero_final"] == 3 and r.loc["learned", "epochs_to_zero_final"] == 2
    assert r.loc["zero", "auc_train"] == pytest.approx((2.5 + 1.75) / 2)
    assert len(cur) == 6 and len(prof) == 4  # the None position is dropped
