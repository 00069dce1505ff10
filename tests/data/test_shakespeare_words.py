"""Shakespeare word-LM data: tokenizer, counts, vocabulary, by-work split, both regimes, caps,
the disk cache and the yamls.

Every test runs against a private ``$INITSTATE_CACHE`` whose ``shakespeare/`` links to the real
fetched texts, so the tokenised-corpus cache is built here, never in the user's cache. The data
tests skip when `make setup` has not fetched the texts.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import torch

from replication.data import fetch
from replication.data import shakespeare_words as sw

ROOT = Path(__file__).resolve().parents[2]
# Measured once on the uncapped corpus (and checked against a recount below).
TOKENS = {"train": 935_290, "val": 107_477, "test": 119_019}
TRAIN_TYPES = 23_974
SMALL = {"max_train_tokens": 20_000, "max_eval_tokens": 3_000}


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    try:
        real = fetch.ensure_shakespeare(download=False)
    except fetch.FetchError as e:
        pytest.skip(f"Shakespeare cache absent ({e})")
    root = tmp_path_factory.mktemp("cache")
    (root / "shakespeare").symlink_to(real.parent, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INITSTATE_CACHE", str(root))
        yield fetch.ensure_shakespeare(download=False)


@pytest.fixture(scope="module")
def windows(texts):
    return sw.load(regime="windows")


@pytest.fixture(scope="module")
def stateful(texts):
    return sw.load(regime="stateful")


@pytest.fixture(scope="module")
def raw_words(texts) -> dict[str, list[str]]:
    """Every work re-tokenised here, from the files, by a hand-written pattern (not sw's)."""
    pattern = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+|-+|[^\sa-z\d]")
    return {
        p.name[: -len("_gut.txt")]: pattern.findall(p.read_text("ascii").lower())
        for p in sorted(texts.glob("*_gut.txt"))
    }


def test_tokenizer_rules():
    text = "Ber.\nWho's there?  'Tis now struck--Stand, ho! [Exit.]\nSelf-substantial th' 1623 O'er"
    assert sw.tokenize(text) == [
        "ber", ".", "who's", "there", "?", "'", "tis", "now", "struck", "--", "stand", ",", "ho",
        "!", "[", "exit", ".", "]", "self", "-", "substantial", "th", "'", "1623", "o'er",
    ]  # fmt: skip
    assert sw.tokenize("a----b\n\n\tc_d") == ["a", "----", "b", "c", "_", "d"]


def test_token_counts_per_split(texts, windows, stateful, raw_words):
    s = windows.info["splits"]
    assert {k: s[k]["work_tokens"] for k in TOKENS} == TOKENS == sw.SPLIT_TOKENS
    # Independent recount from the files.
    for k in TOKENS:
        assert sum(len(raw_words[w]) for w in s[k]["works"]) == TOKENS[k]
    assert windows.info["corpus_tokens"] == sum(TOKENS.values()) == 1_161_786
    # The recount's own sanity: single-character punctuation never merges with anything, so its
    # token count is its character count in the files.
    for w in s["val"]["works"]:
        text = (texts / f"{w}_gut.txt").read_text()
        assert all(raw_words[w].count(m) == text.count(m) for m in ",.;?!")
    # Uncapped: whole works, each minus its tail of < window + 1 tokens.
    for k in TOKENS:
        want = [len(raw_words[w]) // 51 * 51 for w in s[k]["works"]]
        assert stateful.split(k).lengths.tolist() == want
        assert windows.split(k).total_steps == s[k]["tokens"] == sum(want)


def test_vocabulary(windows, raw_words):
    tokens = windows.info["tokens"]
    assert windows.vocab_size == len(tokens) == 10_001 and tokens[sw.UNK_ID] == "<unk>" == sw.UNK
    assert len(set(tokens)) == len(tokens)
    counts = Counter(t for w in windows.info["splits"]["train"]["works"] for t in raw_words[w])
    assert len(counts) == windows.info["train_types"] == TRAIN_TYPES
    # The most frequent training tokens, ties broken by the string.
    expected = sorted(counts, key=lambda t: (-counts[t], t))[:10_000]
    assert tokens[1:] == expected
    assert tokens[1:6] == [",", ".", "the", "and", "i"]
    assert int(windows.train.values.min()) == 0 and int(windows.train.values.max()) == 10_000
    small = sw.load(vocab_size=500, **SMALL)
    assert small.vocab_size == 501 and small.info["tokens"] == tokens[:501]


def test_unk_mapping_and_rates(stateful, raw_words):
    tokens = stateful.info["tokens"]
    ids = {t: i for i, t in enumerate(tokens)}
    s = stateful.info["splits"]
    # Every work decodes to its own re-tokenised text, out-of-vocabulary words as <unk>.
    for k in ("train", "val", "test"):
        for seq, work in zip(stateful.split(k).sequences(), s[k]["works"], strict=True):
            want = [ids.get(t, sw.UNK_ID) for t in raw_words[work][: len(seq)]]
            assert seq.tolist() == want
    # Measured once (the decoding above is their independent check).
    unk = {"train": 19_727, "val": 5_229, "test": 7_123}
    for k, n in unk.items():
        assert int((stateful.split(k).values == sw.UNK_ID).sum()) == s[k]["unk"] == n
        assert s[k]["unk_rate"] == n / stateful.split(k).total_steps
    rates = {k: s[k]["unk_rate"] for k in unk}
    assert rates == pytest.approx({"train": 0.0211, "val": 0.0487, "test": 0.0599}, abs=1e-4)


def test_no_work_in_two_splits(windows):
    s = windows.info["splits"]
    tr, va, te = (set(s[k]["works"]) for k in ("train", "val", "test"))
    assert not (tr & va or tr & te or va & te) and len(tr | va | te) == 42
    assert va == set(sw.VAL_WORKS) and te == set(sw.TEST_WORKS) and len(tr) == 34


def test_regimes_hold_the_same_tokens(windows, stateful):
    for k in ("train", "val", "test"):
        assert torch.equal(windows.split(k).values, stateful.split(k).values)
        assert bool((windows.split(k).lengths == 51).all())
        assert len(stateful.split(k)) == len(windows.info["splits"][k]["works"])
    for caps in (SMALL, {"max_train_tokens": 7_777, "max_eval_tokens": 999}):
        w = sw.load(regime="windows", window=20, seed=1, **caps)
        s = sw.load(regime="stateful", window=20, seed=1, **caps)
        for k in ("train", "val", "test"):
            assert torch.equal(w.split(k).values, s.split(k).values)
    b = next(windows.batches("train", 8))
    assert (
        b.inputs.shape == (8, 50)
        and bool(b.reset.all())
        and torch.equal(b.inputs[:, 1:], b.targets[:, :-1])
    )


def test_caps_and_seed(texts):
    a, b = sw.load(seed=3, **SMALL), sw.load(seed=3, **SMALL)
    for k, cap in (("train", 20_000), ("val", 3_000), ("test", 3_000)):
        assert a.split(k).total_steps == cap // 51 * 51
        assert torch.equal(a.split(k).values, b.split(k).values)
    c = sw.load(seed=4, **SMALL)
    assert not torch.equal(a.train.values, c.train.values)  # the seed moves the excerpts...
    assert a.info["tokens"] == c.info["tokens"]  # ...not the vocabulary
    d = sw.load(seed=3, max_train_tokens=60_000, max_eval_tokens=3_000)
    assert torch.equal(a.val.values, d.val.values)  # capping train never moves val/test


def test_cache_is_reused_and_keyed(texts, monkeypatch):
    sw.load(**SMALL)
    key_dir = texts.parent.parent / "shakespeare_words" / sw.cache_key()
    path = key_dir / f"raw-v{sw.CACHE_VERSION}.pt"
    assert path.exists()
    mtime = path.stat().st_mtime_ns
    sw._corpus.cache_clear()

    def no_build(*a):
        raise AssertionError("rebuilt a valid cache")

    monkeypatch.setattr(sw, "_build", no_build)
    d = sw.load(**SMALL)
    assert d.info["cache"] == f"read from {path}" and path.stat().st_mtime_ns == mtime
    assert sw.cache_key(r"[a-z]+|\S") != sw.cache_key()  # another tokenizer, another cache


def test_bad_options(texts):
    with pytest.raises(ValueError, match="valid choices"):
        sw.load(regime="nope")
    with pytest.raises(ValueError, match="less than one window"):
        sw.load(max_eval_tokens=10)
    with pytest.raises(ValueError, match="vocab_size"):
        sw.load(vocab_size=TRAIN_TYPES + 1)


@pytest.mark.parametrize("name", ["shakespeare_words_windows", "shakespeare_words_stateful"])
def test_yaml_instantiates(texts, name):
    hydra_utils = pytest.importorskip("hydra.utils")
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.load(ROOT / "conf" / "data" / f"{name}.yaml")
    cfg.max_train_tokens, cfg.max_eval_tokens = 5_100, 510  # keep the test small
    d = hydra_utils.instantiate(cfg)
    assert d.name == name and d.vocab_size == 10_001 and d.train.total_steps == 5_100
    assert (
        omegaconf.OmegaConf.load(ROOT / "conf" / "data" / f"{name}.yaml").max_train_tokens is None
    )


def test_bos_prepends_one_new_token_to_every_window(texts, windows):
    b = sw.load(regime="windows", bos=True)
    assert b.vocab_size == windows.vocab_size + 1 and b.info["tokens"][-1] == "<bos>"
    for name in ("train", "val", "test"):
        plain, with_bos = windows.split(name), b.split(name)
        assert with_bos.lengths.tolist() == (plain.lengths + 1).tolist()
        assert all(s[0] == windows.vocab_size and s[1:].tolist() == p.tolist()
                   for s, p in zip(with_bos.sequences(), plain.sequences()))
    with pytest.raises(ValueError, match="regime='windows'"):
        sw.load(regime="stateful", bos=True)
