"""Protocol v3's curve and study-level statistics (issue 18) against independent references: the regime
test on hand-built curves, HKSJ and the prediction interval by the textbook formulas, TOST power by
Monte Carlo, seeds needed against G*Power's table, the naive baselines on an AR(1) with known MSEs,
and the zero-chosen pairing-robust endpoint."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.signal import lfilter

from replication.analysis import endpoints as E
from replication.analysis import meta as M
from replication.analysis import power3 as P
from replication.analysis import regime_test as R
from replication.analysis.protocol3 import UNITS


def early_stopped(mean, sd, rng, patience=5, emax=60):
    """A validation curve mean(e) + N(0, sd²), stopped ``patience`` epochs after no new best."""
    v, best, since = [], np.inf, 0
    for e in range(emax):
        v.append(mean(e) + rng.normal(0, sd))
        best, since = (v[-1], 0) if v[-1] < best else (best, since + 1)
        if since > patience:
            break
    return np.array(v)


def curves(val_mean, train_mean, runs=20, seed=0, sd=0.003, train_sd=0.0005):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(runs):
        v = early_stopped(val_mean, sd, rng)
        tr = np.array([train_mean(e) for e in range(len(v))]) + rng.normal(0, train_sd, len(v))
        rows += [{"dataset": "d", "label": "zero", "seed": r, "epoch": e, "val_loss": v[e], "train_loss_clean": tr[e]}
                 for e in range(len(v))]
    return pd.DataFrame(rows)


def regime(c):
    return R.classify(c, draws=200).iloc[0]


def test_plateau_and_pure_noise_are_out_of_regime_and_a_u_is_in():
    """Planted bug caught: the sign test run on the slope with the selected best epoch included
    (selection alone makes it positive: the pure-noise curves came out in regime)."""
    plateau = regime(curves(lambda e: 1 + 0.3 * math.exp(-e / 2), lambda e: 0.9 + 0.3 * math.exp(-e)))
    noise = regime(curves(lambda e: 1.0, lambda e: 1 - 0.01 * e))
    u = regime(curves(lambda e: 1 + 0.3 * math.exp(-e / 3) + 0.003 * max(0, e - 8), lambda e: 1 - 0.02 * e))
    assert plateau.classification in ("plateau", "noise") and not plateau.in_regime
    assert noise.classification == "noise" and noise.median_val_slope_pct > 0  # selection's rise
    assert u.classification == "in regime" and u.median_val_slope_after_pct > 0.1
    assert u.median_train_slope_pct == pytest.approx(-2.0 / (1 - 0.02 * 10), rel=0.5)


def test_selection_baseline_matches_the_range_of_two_normals():
    """Two epochs, the lower one picked: slope = max − min of two N(0, 1), mean 2/√π.
    Planted bug caught: the minimum not put first (mean slope 0)."""
    s = R.null_slopes(2, 2, 200_000, np.random.default_rng(0))
    assert s.mean() == pytest.approx(2 / math.sqrt(math.pi), abs=0.01)


def test_a_run_still_improving_counts_towards_underfit():
    c = curves(lambda e: 2 - 0.01 * e, lambda e: 2 - 0.01 * e, sd=1e-5)  # never stops: 60 epochs
    assert regime(c).classification == "underfit"


def _hand_meta(y, v, alpha=0.05):
    """DerSimonian–Laird τ² (truncated), HKSJ with the ad hoc floor, Higgins et al. (2009) PI."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    k, w = len(y), 1 / v
    mu_fe = (w * y).sum() / w.sum()
    q = (w * (y - mu_fe) ** 2).sum()
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    mu = (ws * y).sum() / ws.sum()
    se = 1 / math.sqrt(ws.sum())
    se_h = math.sqrt((ws * (y - mu) ** 2).sum() / ((k - 1) * ws.sum()))
    h = sps.t.ppf(1 - alpha / 2, k - 1) * max(se, se_h)
    p = sps.t.ppf(1 - alpha / 2, k - 2) * math.sqrt(tau2 + se**2)
    return {"estimate": mu, "se": se, "se_hksj": se_h, "tau2": tau2, "ci_low": mu - h, "ci_high": mu + h,
            "pi_low": mu - p, "pi_high": mu + p}


@pytest.mark.parametrize("y", [[0.1, 0.5, 0.9], [0.50, 0.51, 0.49]])
def test_hksj_and_prediction_interval_match_the_textbook_on_three_studies(y):
    """Heterogeneous (τ² > 0, HKSJ wider) and homogeneous (τ² = 0, the floor binds) cases.
    Planted bugs caught: normal quantiles (use_t off), no ad hoc floor, PI on k − 1 df."""
    v = [0.01, 0.02, 0.015]
    got, want = M.hksj(y, v), _hand_meta(y, v)
    assert (want["tau2"] > 0) == (y[0] == 0.1)
    for k, x in want.items():
        assert got[k] == pytest.approx(x, rel=1e-9, abs=1e-12), k


def test_pooling_never_mixes_task_types():
    """Same claim on two LM and two forecast datasets: two pools of k = 2, not one of 4."""
    rows = [{"task": t, "claim": "C2", "endpoint": "primary", "a": "learned", "b": "noisy", "unit": UNITS[t],
             "dataset": f"{t}{i}", "mean_diff": m, "se": 0.1}
            for t, m0 in (("lm", 0.01), ("forecast", 3.0)) for i, m in enumerate((m0, m0 * 1.1))]
    out = M.pooled(pd.DataFrame(rows))
    assert sorted(out.task) == ["forecast", "lm"] and (out.k == 2).all()
    assert out.set_index("task").loc["lm", "estimate"] == pytest.approx(0.0105)


def test_tost_power_matches_monte_carlo():
    """Planted bug caught: the two-sided quantile used for each one-sided test."""
    rng = np.random.default_rng(1)
    for n, d, th, a in ((5, 1.5, 0.0, 0.025), (8, 1.2, 0.3, 0.05 / 6)):
        x = rng.standard_normal((100_000, n)) + th
        m, s = x.mean(1), x.std(1, ddof=1) * sps.t.ppf(1 - a, n - 1) / math.sqrt(n)
        mc = np.mean((m - s > -d) & (m + s < d))
        assert P.tost_power(d, n, a, th) == pytest.approx(mc, abs=0.006)


def test_seeds_needed_for_the_difference_test_match_gpower():
    """Paired t-test, d = 0.5, α = .05 two-sided, 80% power: 34 pairs (G*Power; Cohen 1988)."""
    diff, equiv = P.seeds_needed(0.5, 0.05)
    assert diff == 34
    rng = np.random.default_rng(2)
    for n, want_at_least in ((int(equiv), True), (int(equiv) - 1, False)):
        x = rng.standard_normal((40_000, n))
        h = x.std(1, ddof=1) * sps.t.ppf(0.975, n - 1) / math.sqrt(n)
        assert (np.mean(np.abs(x.mean(1)) + h < 0.5) >= 0.8 - 0.01) == want_at_least, n


def test_naive_baselines_on_an_ar1_have_their_known_mses():
    """x_t = 0.8 x_{t−1} + ε, σ² = 1: mean predictor γ₀ = 1/(1 − φ²) = 2.78, last value 2σ²/(1 + φ)
    = 1.11, AR σ² = 1 (up to estimation error)."""
    rng = np.random.default_rng(4)
    x = lfilter([1.0], [1.0, -0.8], rng.standard_normal(40_000))
    b = E.naive_baselines([x[:20_000]], [x[20_000:]])
    assert b["mse_mean"] == pytest.approx(1 / 0.36, rel=0.05)
    assert b["mse_last"] == pytest.approx(2 / 1.8, rel=0.03)
    assert b["mse_ar"] == pytest.approx(1.0, rel=0.03) and b["targets"] == 19_999


def test_tree_ring_skill_is_a_weak_test():
    """The review's tree-ring numbers: 0.754 vs AR 0.770 is 2.1% skill (< 5%): weak."""
    s = E.skill(0.754, {"mse_mean": 0.810, "mse_ar": 0.770, "mse_last": 1.2})
    assert s["best_baseline"] == "ar" and s["skill_best_pct"] == pytest.approx(100 * (1 - 0.754 / 0.770))
    assert s["weak"] and s["skill_mean_pct"] == pytest.approx(100 * (1 - 0.754 / 0.81))


def test_the_robust_endpoint_epoch_is_chosen_by_zero_alone():
    """Zero peaks at epochs 2, 4, 6 (lower median 4, window 2..6); learned peaks at 9 everywhere and
    does not move it. Planted bug caught: the epoch taken over all strategies' best epochs (6)."""
    rows = []
    for label, bests, off in (("zero", (2, 4, 6), 0.0), ("learned", (9, 9, 9), 1.0)):
        for seed, b in enumerate(bests):
            last = 3 if (label, seed) == ("learned", 2) else 11  # one run stopped before epoch 4
            rows += [{"dataset": "d", "label": label, "seed": seed, "epoch": e, "val_loss": abs(e - b) + 1.0,
                      "test_loss": 0.1 * e + off, "test_acc": np.nan, "test_early": np.nan} for e in range(last + 1)]
    c = pd.DataFrame(rows)
    runs = c[["dataset", "label", "seed"]].drop_duplicates().assign(task="forecast", diverged=False)
    z = E.zero_epochs(c).iloc[0]
    assert (z.epoch, z.lo, z.hi) == (4, 2, 6)
    at = E.robust_runs(c, runs).set_index(["label", "seed"])["test_at_best"]
    assert at["learned", 0] == pytest.approx(1.4) and math.isnan(at["learned", 2])
    win = E.robust_runs(c, runs, "window").set_index(["label", "seed"])["test_at_best"]
    assert win["zero", 1] == pytest.approx(0.4)  # mean of 0.2 … 0.6


def test_lm_differences_read_as_percent_perplexity():
    assert float(E.display("lm", math.log(1.01))) == pytest.approx(1.0)
    assert float(E.display("forecast", 2.5)) == 2.5
    with pytest.raises(ValueError, match="valid choices: lm, classify, forecast"):
        E.display("regression", 1.0)
