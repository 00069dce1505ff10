"""The synthetic oscillator dataset: sizes, determinism, one system across regimes, and numbers
showing why the initial state matters for it."""

from __future__ import annotations

from pathlib import Path

import hydra.utils
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from replication.data import synthetic

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"
SMALL = dict(num_sequences=40, length=12, val_sequences=8, test_sequences=6)


@pytest.fixture(scope="module")
def pair():
    """The two yamls, instantiated as the experiments do."""
    return {
        name: hydra.utils.instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
        for name in ("synthetic_short", "synthetic_long")
    }


def test_yaml_pair_equal_steps_and_shapes(pair):
    short, long = pair["synthetic_short"], pair["synthetic_long"]
    assert (short.name, short.regime, long.name, long.regime) == (
        "synthetic_short",
        "windows",
        "synthetic_long",
        "stateful",
    )
    assert short.sizes() == {
        "train": {"sequences": 2000, "steps": 50_000},
        "val": {"sequences": 400, "steps": 10_000},
        "test": {"sequences": 400, "steps": 10_000},
    }
    assert long.sizes() == {
        "train": {"sequences": 10, "steps": 50_000},
        "val": {"sequences": 2, "steps": 10_000},
        "test": {"sequences": 2, "steps": 10_000},
    }
    for ds, length in ((short, 25), (long, 5000)):
        assert ds.task == "forecast" and ds.num_channels == 2
        assert ds.vocab_size is None and ds.num_classes is None
        for split in ("train", "val", "test"):
            s = ds.split(split)
            assert s.values.dtype == torch.float32 and s.values.shape == (s.total_steps, 2)
            assert (s.lengths == length).all() and s.labels is None
            assert torch.isfinite(s.values).all()


def test_same_system_across_regimes(pair):
    short, long = pair["synthetic_short"], pair["synthetic_long"]
    assert short.info["system_fingerprint"] == long.info["system_fingerprint"]
    # Same stationary law: the train statistics of 2,000 windows and of 10 long series agree.
    assert torch.allclose(short.norm_mean, long.norm_mean, atol=0.03 * float(short.norm_std.min()))
    assert torch.allclose(short.norm_std, long.norm_std, rtol=0.03)

    # ... and so do the lag-1..5 autocorrelations (the dynamics, not only the marginals).
    def acf(ds, lags=5):
        x = ds.train.values.reshape(len(ds.train), -1, 2)
        return torch.stack(
            [(x[:, k:] * x[:, : x.shape[1] - k]).mean((0, 1)) for k in range(1, lags + 1)]
        )

    assert torch.allclose(acf(short), acf(long), atol=0.03)
    # A different system_seed is a different system.
    other = synthetic.load(system_seed=1, **SMALL)
    assert other.info["system_fingerprint"] != short.info["system_fingerprint"]


def test_default_name_follows_regime_unless_given():
    assert synthetic.load(**SMALL).name == "synthetic_short"
    assert synthetic.load(regime="stateful", **SMALL).name == "synthetic_long"
    assert synthetic.load(name="mine", **SMALL).name == "mine"
    with pytest.raises(ValueError, match="valid choices: windows, stateful"):
        synthetic.load(regime="online")


def test_deterministic_under_seed_and_seed_matters():
    state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a, b = synthetic.load(seed=3, **SMALL), synthetic.load(seed=3, **SMALL)
    c = synthetic.load(seed=4, **SMALL)
    assert (
        torch.equal(state[0], torch.get_rng_state())
        and (state[1] == np.random.get_state()[1]).all()
    )
    for split in ("train", "val", "test"):
        assert torch.equal(a.split(split).values, b.split(split).values)
        assert not torch.allclose(a.split(split).values, c.split(split).values, atol=0.1)
    assert a.info["system_fingerprint"] == c.info["system_fingerprint"]  # seed keeps the system


def test_splits_are_disjoint_draws_from_their_own_streams():
    ds = synthetic.load(standardize=False, **SMALL)
    seqs = [s.reshape(-1, 12, 2) for s in (ds.train.values, ds.val.values, ds.test.values)]
    firsts = torch.cat([s[:, 0] for s in seqs])  # first step of every sequence, all splits
    # No sequence is repeated within or across splits (continuous draws never coincide).
    assert torch.cdist(firsts, firsts).add(torch.eye(len(firsts)) * 1e9).min() > 1e-4
    # Changing the train size leaves val and test untouched: each split has its own stream.
    bigger = synthetic.load(standardize=False, **{**SMALL, "num_sequences": 70})
    assert torch.equal(bigger.val.values, ds.val.values) and torch.equal(
        bigger.test.values, ds.test.values
    )


def test_normalisation_uses_train_statistics_only():
    raw = synthetic.load(standardize=False, **SMALL)
    ds = synthetic.load(**SMALL)
    mean, std = raw.train.values.mean(0), raw.train.values.std(0)
    assert torch.allclose(ds.norm_mean, mean) and torch.allclose(ds.norm_std, std)
    for split in ("train", "val", "test"):
        assert torch.allclose(
            ds.split(split).values, (raw.split(split).values - mean) / std, atol=1e-6
        )
    assert torch.allclose(ds.train.values.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(ds.train.values.std(0), torch.ones(2), atol=1e-5)
    assert not torch.allclose(ds.val.values.mean(0), torch.zeros(2), atol=1e-4)  # not refitted
    assert raw.norm_mean is None and raw.norm_std is None


def amplitudes(system, z):
    """``(S, L, K)`` oscillator amplitudes ``|w_k|`` in units of their ring radius ``r_k``."""
    K = system.num_oscillators
    return np.abs(z[..., :K] + 1j * z[..., K:]) / system.radius


def test_start_matters_zero_is_far_from_every_stationary_state():
    system = synthetic.make_system(0)
    z, _ = synthetic.simulate(system, 2000, 40, np.random.default_rng(0))
    amp = amplitudes(system, z)
    # Stationary: every oscillator on its ring (mean amplitude 1.01 r, spread 0.10 to 0.16 r),
    # so the zero state is >= 5 standard deviations from the typical state ...
    assert np.allclose(amp.mean((0, 1)), 1.0, atol=0.05)
    assert (amp.mean((0, 1)) / amp.std((0, 1)) > 5).all()
    # ... and the burn-in delivers it: the first emitted step is already stationary.
    assert np.allclose(amp[:, 0].mean(0), amp.mean((0, 1)), atol=0.03)


def test_start_matters_a_zero_start_is_systematically_wrong():
    system = synthetic.make_system(0)
    z, x = synthetic.simulate(system, 2000, 25, np.random.default_rng(1), burn_in=0)
    amp = amplitudes(system, z).mean((0, 2))  # (L,) mean relative amplitude by step
    # From w = 0 the process needs ~10 steps to spin up (measured: 0.09, 0.48, 0.73 at 0, 5, 10).
    assert amp[0] < 0.2 and amp[5] < 0.6 and amp[10] < 0.85 and amp[24] > 0.9
    assert (np.diff(amp) > 0).all()
    _, xs = synthetic.simulate(system, 2000, 25, np.random.default_rng(2))
    # In observation space: the output power of a zero start at step 0 is mostly noise.
    assert (x[:, 0] ** 2).mean() < 0.1 * (xs[:, 0] ** 2).mean()


def test_start_matters_first_steps_are_intrinsically_harder(pair):
    """Best linear forecast of x[t+1] from the history x[0..t] available in a window, fitted per
    position on train windows and scored on val: the error at the start is far above steady state
    (measured on the default data: 11x at position 0, 1.5x at position 5)."""
    ds = pair["synthetic_short"]
    x = ds.train.values.reshape(-1, 25, 2).double().numpy()
    xv = ds.val.values.reshape(-1, 25, 2).double().numpy()

    def design(a, t):
        return np.concatenate([a[:, : t + 1].reshape(len(a), -1), np.ones((len(a), 1))], 1)

    mse = []
    for t in range(24):
        coef = np.linalg.lstsq(design(x, t), x[:, t + 1], rcond=None)[0]
        mse.append(((design(xv, t) @ coef - xv[:, t + 1]) ** 2).mean())
    steady = np.mean(mse[15:])
    assert mse[0] > 5 * steady and mse[5] > 1.2 * steady
    assert steady < 0.2  # once the phases are known the process is quite predictable


def test_default_loads_hold_the_documented_sizes():
    """load()'s own defaults (not the yamls'): 2,000 x 25 windows and 10 x 5,000 steps, equal
    totals, finite float32 values on 2 channels (how long it takes is for benchmarks, not tests)."""
    for regime, (n, length) in {"windows": (2000, 25), "stateful": (10, 5000)}.items():
        ds = synthetic.load(regime=regime)
        assert ds.sizes()["train"] == {"sequences": n, "steps": 50_000} == {"sequences": n, "steps": n * length}
        assert set(ds.train.lengths.tolist()) == {length} and ds.num_channels == 2
        assert ds.train.values.dtype == torch.float32 and bool(torch.isfinite(ds.train.values).all())


def test_bad_sizes_error():
    with pytest.raises(ValueError, match="length must be >= 2"):
        synthetic.load(length=1)
    with pytest.raises(ValueError, match="num_sequences"):
        synthetic.load(num_sequences=0)
    with pytest.raises(ValueError, match="min_period"):
        synthetic.load(min_period=1)
