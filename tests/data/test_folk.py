"""Essen folk melodies: subset, splits, tokens, the music21-free cache hit, the atomic cache.

The normal tests share the user cache (a small subset parses in a second or two the first time);
the tests of cache behaviour use a private ``INITSTATE_CACHE``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from replication.data import folk

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("music21") is None,
    reason="music21 is not installed (pip install 'initstate[data]')",
)

ROOT = Path(__file__).resolve().parents[2]
SMALL = 60  # tunes: 48 train, 6 val, 6 test


@pytest.fixture(scope="module")
def ds():
    return folk.load(max_tunes=SMALL, seed=0)


def test_sizes_and_lengths(ds):
    assert (ds.name, ds.task, ds.regime) == ("folk", "lm", "windows")
    assert {s: len(ds.split(s)) for s in ("train", "val", "test")} == {
        "train": 48,
        "val": 6,
        "test": 6,
    }
    assert ds.info["corpus_tunes"] == 8514
    lengths = torch.cat([ds.split(s).lengths for s in ("train", "val", "test")])
    # The whole corpus has 8..520 events per tune (notes and rests), median 49.
    assert 8 <= int(lengths.min()) and int(lengths.max()) <= 520
    assert 20 <= float(lengths.float().median()) <= 100


def test_tokens_in_range_and_vocab_from_train(ds):
    assert ds.vocab_size == len(ds.info["tokens"]) and ds.info["tokens"][0] == "<unk>"
    for s in ("train", "val", "test"):
        v = ds.split(s).values
        assert v.dtype == torch.int64 and int(v.min()) >= 0 and int(v.max()) < ds.vocab_size
    assert int((ds.train.values == 0).sum()) == 0  # <unk> only for pairs unseen in train
    used = torch.unique(ds.train.values)
    assert torch.equal(used, torch.arange(1, ds.vocab_size))  # every vocab entry occurs in train


def test_no_bos_token(ds):
    # Tunes start on their first note, not on a shared start symbol.
    firsts = ds.train.values[ds.train.offsets]
    assert len(torch.unique(firsts)) > 1


def test_windows_batches(ds):
    n = 0
    for b in ds.batches("train", 16, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert b.reset.all()
        assert b.inputs.dtype == torch.int64 and int(b.inputs.max()) < ds.vocab_size
        assert int(b.targets[b.mask].max()) < ds.vocab_size and int(b.targets[b.mask].min()) >= 0
        n += len(b.reset)
        assert torch.equal(b.mask.sum(1), b.lengths)
    assert n == len(ds.train)


def test_deterministic_and_seeded():
    a = folk.load(max_tunes=SMALL, seed=0)
    b = folk.load(max_tunes=SMALL, seed=0)
    for s in ("train", "val", "test"):
        assert torch.equal(a.split(s).values, b.split(s).values)
        assert torch.equal(a.split(s).lengths, b.split(s).lengths)
    pa, _, _ = folk.select(max_tunes=SMALL, seed=0)
    pc, _, _ = folk.select(max_tunes=SMALL, seed=1)
    assert pa != pc
    # A smaller subset under the same seed is a prefix of the permutation: nothing extra to parse.
    small, _, meta = folk.select(max_tunes=20, seed=0)
    assert meta["parsed_now"] == 0
    assert set(sum(small.values(), [])) <= set(sum(pa.values(), []))


def test_no_tune_in_two_splits():
    parts, tunes, _ = folk.select(max_tunes=SMALL, seed=0)
    keys = [set(parts[s]) for s in ("train", "val", "test")]
    assert sum(map(len, keys)) == len(set.union(*keys)) == SMALL
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    # dedupe: no melody (event sequence) occurs twice, so none can sit in two splits.
    sigs = {tuple(tunes[k][0].tolist()) + tuple(tunes[k][1].tolist()) for s in keys for k in s}
    assert len(sigs) == SMALL


def test_cache_hit_avoids_music21(ds, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("music21 was used on a cache hit")

    monkeypatch.setattr(folk, "_parse", boom)
    monkeypatch.setattr(folk, "_essen_files", boom)
    again = folk.load(max_tunes=SMALL, seed=0)
    assert again.info["parsed_now"] == 0
    assert torch.equal(again.train.values, ds.train.values)


def test_cache_hit_does_not_import_music21(ds):
    code = (
        "import sys; from replication.data import folk; "
        f"d = folk.load(max_tunes={SMALL}, seed=0); assert d.info['parsed_now'] == 0; "
        "assert 'music21' not in sys.modules, 'music21 was imported'"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]


def test_incremental_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    a, _, ma = folk.select(max_tunes=12, seed=0)
    assert ma["parsed_now"] >= 12
    b, _, mb = folk.select(max_tunes=20, seed=0)
    # Only the tunes beyond the cached prefix are parsed (a few more if some are skipped).
    assert 8 <= mb["parsed_now"] < 12
    assert set(sum(a.values(), [])) <= set(sum(b.values(), []))
    raw = torch.load(tmp_path / "folk" / f"essen_v{folk.CACHE_VERSION}.pt", weights_only=True)
    assert len(raw["keys"]) == ma["parsed_now"] + mb["parsed_now"]
    assert len(raw["index"]) == 8514


def test_cache_written_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    folk.select(max_tunes=5, seed=0)
    cache = tmp_path / "folk" / f"essen_v{folk.CACHE_VERSION}.pt"
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no stray temp files
    before = cache.read_bytes()

    # A kill between writing the new cache and renaming it leaves the old cache intact.
    import replication.io

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(replication.io.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        folk.select(max_tunes=10, seed=0)
    monkeypatch.undo()
    assert cache.read_bytes() == before
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]


def test_events_match_music21_converter():
    # The fast token-level reader agrees with music21's full ABC translation (ties and split
    # rests merged the same way) on a few tunes with rests, ties and dotted rhythms.
    music21 = pytest.importorskip("music21")
    files = folk._essen_files()
    texts = folk._split_tunes(folk._read_abc(files["altdeu10"]))
    fast = folk._parse_file((str(files["altdeu10"]), "altdeu10", [10, 15, 49]))
    for i in (10, 15, 49):
        score = music21.converter.parse(texts[i], format="abc")
        pitches: list[int] = []
        qls: list[float] = []
        tie_open = False
        for n in score.flatten().notesAndRests:
            p = -1 if n.isRest else n.pitch.midi
            if pitches and (
                (tie_open and pitches[-1] == p != -1) or (p == -1 and pitches[-1] == -1)
            ):
                qls[-1] += float(n.quarterLength)
            else:
                pitches.append(p)
                qls.append(float(n.quarterLength))
            tie_open = n.tie is not None and n.tie.type in ("start", "continue")
        assert fast[f"altdeu10/{i}"] == (pitches, qls)


def test_bad_options():
    with pytest.raises(ValueError, match="fraction"):
        folk.load(max_tunes=SMALL, val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError, match="max_tunes"):
        folk.load(max_tunes=2)


def test_yaml_instantiates():
    hydra = pytest.importorskip("hydra")
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.load(ROOT / "conf" / "data" / "folk.yaml")
    assert cfg.max_tunes == 1000 and cfg.seed == 0
    cfg.max_tunes = SMALL
    d = hydra.utils.instantiate(cfg)
    assert d.name == "folk" and len(d.train) + len(d.val) + len(d.test) == SMALL
