"""The length study's prediction from one profile and its a/L + b fit, by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from replication.analysis import dose as D

PROFILE = pd.DataFrame({"position": range(5), "mean_diff": [-0.5, -0.1, -0.02, -0.02, -0.02]})


def test_prediction_is_the_profile_mean_over_the_window_with_its_tail_beyond():
    assert D.tail_level(PROFILE, 2) == pytest.approx(-0.02)
    assert D.predict_gain(PROFILE, 1, 2) == pytest.approx(-0.5)
    assert D.predict_gain(PROFILE, 3, 2) == pytest.approx((-0.5 - 0.1 - 0.02) / 3)
    # beyond the measured positions the diffuse tail continues: (-0.5 - 0.1 + 8 × -0.02) / 10
    assert D.predict_gain(PROFILE, 10, 2) == pytest.approx(-0.076)
    with pytest.raises(ValueError, match="length must be >= 1"):
        D.predict_gain(PROFILE, 0, 2)


def test_fit_recovers_a_over_l_plus_b_and_its_interval_by_hand():
    L = np.array([5.0, 10, 50, 200])
    exact = 2.0 / L + 0.1
    f = D.fit_inverse_length(L, exact, np.full(4, 0.01))
    assert (f["a"], f["b"], f["k"], f["df"]) == (pytest.approx(2.0), pytest.approx(0.1), 4, 2.0)
    # with residuals: weighted least squares by hand (numpy), t on k − 2 df
    g = exact + np.array([0.01, -0.02, 0.015, -0.005])
    se = np.array([0.01, 0.02, 0.01, 0.02])
    f = D.fit_inverse_length(L, g, se)
    w = 1 / se**2
    X = np.column_stack([1 / L, np.ones(4)])
    xtwx = X.T @ (X * w[:, None])
    beta = np.linalg.solve(xtwx, X.T @ (w * g))
    resid = g - X @ beta
    cov = np.linalg.inv(xtwx) * (w * resid**2).sum() / 2
    q = st.t.ppf(0.975, 2)
    assert (f["a"], f["b"]) == (pytest.approx(beta[0]), pytest.approx(beta[1]))
    assert (f["a_low"], f["a_high"]) == (pytest.approx(beta[0] - q * np.sqrt(cov[0, 0])),
                                         pytest.approx(beta[0] + q * np.sqrt(cov[0, 0])))
    assert (f["b_low"], f["b_high"]) == (pytest.approx(beta[1] - q * np.sqrt(cov[1, 1])),
                                         pytest.approx(beta[1] + q * np.sqrt(cov[1, 1])))


def test_fewer_than_three_lengths_is_no_fit():
    f = D.fit_inverse_length([5, 50, 200], [0.1, np.nan, 0.2], [0.01, 0.01, 0.01])
    assert f["k"] == 2 and np.isnan(f["a"]) and np.isnan(f["b_high"])
