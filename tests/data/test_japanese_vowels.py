"""JapaneseVowels loader: documented sizes, stratified seeded val, no leakage, train-only
normalisation checked by hand against the raw aeon arrays, batching, yaml, cache."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

aeon_datasets = pytest.importorskip(
    "aeon.datasets", reason="JapaneseVowels ships with aeon: pip install 'initstate[data]'"
)

from replication.data import japanese_vowels as jv  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf" / "data" / "japanese_vowels.yaml"


# Every test here reads and writes a throw-away cache (tests/data/conftest.py), never the user's.
pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def raw():
    """The official splits straight from aeon: lists of ``(L, 12)`` float64 arrays, int labels."""
    out = {}
    for s in ("train", "test"):
        X, y = aeon_datasets.load_japanese_vowels(split=s)
        out[s] = ([np.asarray(x, dtype=np.float64).T for x in X], np.array([int(v) - 1 for v in y]))
    return out


@pytest.fixture(scope="module")
def ds():
    return jv.load()


def _match(seqs: list[np.ndarray], pool: list[np.ndarray]) -> list[int]:
    """For each of ``seqs`` the index of the one sequence in ``pool`` equal to it (to 1e-4)."""
    out = []
    for q in seqs:
        hits = [
            i for i, p in enumerate(pool) if p.shape == q.shape and np.allclose(p, q, atol=1e-4)
        ]
        assert len(hits) == 1, f"{len(hits)} raw sequences match"
        out.append(hits[0])
    return out


def _raw_of(ds, split: str) -> list[np.ndarray]:
    """A split's sequences mapped back to raw units, ``(L, 12)`` float64 each."""
    mean, std = ds.norm_mean.double().numpy(), ds.norm_std.double().numpy()
    return [s.double().numpy() * std + mean for s in ds.split(split).sequences()]


def assert_same_dataset(a, b):
    assert (a.name, a.task, a.regime, a.num_channels, a.num_classes) == (
        b.name,
        b.task,
        b.regime,
        b.num_channels,
        b.num_classes,
    )
    for s in ("train", "val", "test"):
        x, y = a.split(s), b.split(s)
        assert torch.equal(x.values, y.values) and torch.equal(x.lengths, y.lengths)
        assert torch.equal(x.labels, y.labels)
    assert torch.equal(a.norm_mean, b.norm_mean) and torch.equal(a.norm_std, b.norm_std)


def test_documented_sizes(ds):
    assert (ds.name, ds.task, ds.regime) == ("japanese_vowels", "classify", "windows")
    assert (ds.num_channels, ds.num_classes) == (12, 9)
    sizes = ds.sizes()
    assert [sizes[s]["sequences"] for s in ("train", "val", "test")] == [216, 54, 370]
    assert sizes["train"]["sequences"] + sizes["val"]["sequences"] == 270
    lengths = torch.cat([ds.split(s).lengths for s in ("train", "val", "test")])
    assert int(lengths.min()) == 7 and int(lengths.max()) == 29
    for s in ("train", "val", "test"):
        sp = ds.split(s)
        assert sp.values.dtype == torch.float32 and sp.values.shape[1] == 12
        assert sp.labels.dtype == torch.int64
        assert int(sp.labels.min()) == 0 and int(sp.labels.max()) == 8
    assert ds.norm_mean.shape == ds.norm_std.shape == (12,)


def test_val_is_stratified(ds):
    # The official train split has 30 utterances per speaker; 20% of each goes to val.
    assert Counter(ds.val.labels.tolist()) == {c: 6 for c in range(9)}
    assert Counter(ds.train.labels.tolist()) == {c: 24 for c in range(9)}


def test_seed_determines_val(ds):
    assert_same_dataset(ds, jv.load(seed=0))
    other = jv.load(seed=1)
    assert not torch.equal(other.val.values, ds.val.values)
    assert Counter(other.val.labels.tolist()) == {c: 6 for c in range(9)}
    small = jv.load(val_fraction=0.1)
    assert Counter(small.val.labels.tolist()) == {c: 3 for c in range(9)}


def test_no_leakage_and_labels_follow_sequences(ds, raw):
    (train_x, train_y), (test_x, test_y) = raw["train"], raw["test"]
    train = _match(_raw_of(ds, "train"), train_x)
    val = _match(_raw_of(ds, "val"), train_x)
    # train and val partition the official train split; test is the official test split as is.
    assert not set(train) & set(val) and sorted(train + val) == list(range(270))
    assert _match(_raw_of(ds, "test"), test_x) == list(range(370))
    assert not any(np.allclose(x, t) for x in train_x for t in test_x if x.shape == t.shape)
    # Each sequence keeps its own label.
    assert ds.train.labels.tolist() == train_y[train].tolist()
    assert ds.val.labels.tolist() == train_y[val].tolist()
    assert ds.test.labels.tolist() == test_y.tolist()


def test_normalisation_uses_train_only(ds, raw):
    # Hand computation: the official train sequences that are not in val, pooled over time steps.
    train_x = raw["train"][0]
    val = _match(_raw_of(ds, "val"), train_x)
    pooled = np.concatenate([x for i, x in enumerate(train_x) if i not in val])
    mean, std = pooled.mean(0), pooled.std(0, ddof=1)
    np.testing.assert_allclose(ds.norm_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds.norm_std.numpy(), std, rtol=1e-5)
    values = ds.train.values.double()
    np.testing.assert_allclose(values.mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(values.std(0).numpy(), 1.0, atol=1e-5)
    # Val and test are scaled with the train statistics (so their own are not exactly 0/1).
    val_raw = np.concatenate([train_x[i] for i in val])
    np.testing.assert_allclose(ds.val.values.numpy(), (val_raw - mean) / std, atol=1e-5)
    test_raw = np.concatenate(raw["test"][0])
    np.testing.assert_allclose(ds.test.values.numpy(), (test_raw - mean) / std, atol=1e-5)


def test_window_batches_reset_every_row(ds):
    seen = 0
    gen = torch.Generator().manual_seed(0)
    for b in ds.batches("train", 32, shuffle=True, generator=gen):
        assert b.reset.all()
        assert b.inputs.shape[0] == b.targets.shape[0] and b.inputs.shape[2] == 12
        assert torch.equal(b.lengths, b.mask.sum(1)) and int(b.lengths.min()) >= 7
        seen += len(b.reset)
    assert seen == 216


def test_yaml_instantiates(ds):
    hydra = pytest.importorskip(
        "hydra", reason="configs need hydra-core: pip install 'initstate[exp]'"
    )
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF)
    assert cfg._target_ == "replication.data.japanese_vowels.load"
    assert_same_dataset(hydra.utils.instantiate(cfg), ds)


def test_cached_load_equals_first_load_without_aeon(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    first = jv.load()
    assert not first.info["from_cache"]
    assert (tmp_path / "japanese_vowels" / f"raw-v{jv.CACHE_VERSION}.pt").exists()

    def no_import(*args, **kwargs):
        raise AssertionError("a cached load must not import aeon")

    monkeypatch.setattr(jv, "require", no_import)
    cached = jv.load()
    assert cached.info["from_cache"]
    assert_same_dataset(first, cached)
    assert cached.info["source"] == first.info["source"]


def test_missing_aeon_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "aeon", None)  # makes `import aeon` raise ImportError
    with pytest.raises(ImportError, match="japanese_vowels.*aeon.*pip install"):
        jv.load(cache=False)


def test_bad_val_fraction():
    with pytest.raises(ValueError, match="val_fraction"):
        jv.load(val_fraction=1.0)
