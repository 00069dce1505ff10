"""Protocol v3's persistence-following early window, on hand-built profiles whose answers are computed
here by hand (numpy and scipy's t quantile as the reference)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from replication.analysis import positions as P
from replication.analysis.protocol3 import MIN_STARTS


def _profiles(diffs: dict[str, np.ndarray], zero: np.ndarray, ds="d", count=4, test_shift=0.0):
    """Rows for ``zero`` (seeds × positions) and each label = zero + diffs[label] (same shape)."""
    rows = []
    for label, d in {"zero": np.zeros_like(zero), **diffs}.items():
        v = zero + d
        for s in range(v.shape[0]):
            for t in range(v.shape[1]):
                rows.append({"dataset": ds, "strategy": label, "label": label, "seed": s, "position": t,
                             "loss": v[s, t], "count": count, "test_loss": v[s, t] + test_shift,
                             "test_count": count + t})
    return pd.DataFrame(rows)


def test_paired_profile_is_the_paired_t_interval_at_each_position():
    rng = np.random.default_rng(0)
    zero, d = rng.normal(1.0, 0.1, (5, 3)), rng.normal(-0.2, 0.05, (5, 3))
    got = P.paired_profile(_profiles({"learned": d}, zero), "d", "learned", "zero")
    for t in range(3):
        x = d[:, t]
        half = st.t.ppf(0.975, 4) * x.std(ddof=1) / np.sqrt(5)
        row = got[got["position"] == t].iloc[0]
        assert row["n"] == 5
        assert row["mean_diff"] == pytest.approx(x.mean())
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(x.mean() - half), pytest.approx(x.mean() + half))


def test_persistence_counts_only_the_leading_positions_that_exclude_zero():
    diff = pd.DataFrame({"position": [0, 1, 2, 3], "ci_low": [-3, -2, -1, -2], "ci_high": [-1, -0.5, 1, -1]})
    assert P.persistence(diff) == 2  # position 3 excludes 0 again but the effect had ended at 2
    assert P.persistence(diff.assign(ci_high=[1, -1, -1, -1])) == 0  # within noise from the start
    assert P.persistence(diff.assign(ci_low=[1, 1, 1, 1], ci_high=[2, 2, 2, 2])) == 4  # a harm counts too
    assert P.persistence(diff.assign(ci_low=np.nan, ci_high=np.nan)) == 0  # fewer than 2 seeds


def test_window_follows_the_longer_lasting_strategy_on_validation_only():
    rng = np.random.default_rng(1)
    zero = rng.normal(1.0, 0.1, (6, 8))
    noise = rng.normal(0, 0.001, (6, 8))
    learned = noise + np.array([-0.5, -0.3, 0, 0, 0, 0, 0, 0])   # lasts 2 steps
    noisy = noise + np.array([0.4, 0.4, 0.4, 0.2, 0, 0, 0, 0])     # lasts 4 steps
    prof = _profiles({"learned": learned, "noisy": noisy}, zero, count=3)
    win = P.windows(prof)
    row = win.iloc[0]
    assert (row["window"], row["persistence"], row["persistence_by"]) == (4, 4, "noisy")
    assert row["test_starts"] == 3 and bool(row["few_starts"]) == (3 < MIN_STARTS)
    # test values play no part in choosing the window
    assert P.windows(prof.assign(test_loss=rng.normal(size=len(prof))))["window"].tolist() == [4]
    # no effect at all: the window is still one step
    flat = _profiles({"learned": noise, "noisy": noise}, zero, count=MIN_STARTS)
    assert P.windows(flat)[["window", "persistence", "few_starts"]].values.tolist() == [[1, 0, False]]


def test_windowed_is_the_count_weighted_mean_of_the_test_profile():
    zero = np.array([[1.0, 2.0, 3.0, 4.0]])
    prof = _profiles({}, zero)
    got = P.windowed(prof, pd.DataFrame({"dataset": ["d"], "window": [3]}))
    counts = np.array([4, 5, 6])  # test_count = count + t
    assert got["early_window"].iloc[0] == pytest.approx((counts * [1, 2, 3]).sum() / counts.sum())
    # a record short of its window gives NaN, not a mean over part of it
    short = P.windowed(prof[prof["position"] < 2], pd.DataFrame({"dataset": ["d"], "window": [3]}))
    assert np.isnan(short["early_window"].iloc[0])


def test_diverged_runs_leave_the_persistence_out():
    rng = np.random.default_rng(2)
    zero = rng.normal(1.0, 0.1, (4, 3))
    prof = _profiles({"learned": np.full((4, 3), -0.3) + rng.normal(0, 0.01, (4, 3))}, zero)
    runs = pd.DataFrame({"dataset": "d", "label": ["zero"] * 4 + ["learned"] * 4, "seed": list(range(4)) * 2,
                         "diverged": [False] * 4 + [True, True, True, False]})
    assert P.paired_profile(prof, "d", "learned", "zero", runs=runs)["n"].tolist() == [1, 1, 1]
