"""The user's own ``.npz`` data: exact round trips and one clear line per malformed file."""

from __future__ import annotations

from pathlib import Path

import hydra.utils
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from replication.data import custom

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"


def write(tmp_path, name="data.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def forecast_arrays():
    rng = np.random.default_rng(0)
    lengths = np.array([4, 3, 5, 2, 6])
    return {
        "values": rng.normal(5.0, 2.0, (lengths.sum(), 3)).astype(np.float32),
        "lengths": lengths,
        "labels": np.array([1, 0, 2, 1, 0]),
        "split": np.array(["train", "val", "train", "test", "train"]),
    }


def pieces(values, lengths, keep):
    """The steps of the sequences whose index is in ``keep``, in file order."""
    ends = np.cumsum(lengths)
    return np.concatenate(
        [values[e - n : e] for i, (e, n) in enumerate(zip(ends, lengths, strict=True)) if i in keep]
    )


@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_round_trip_with_split_and_train_normalisation(tmp_path, task):
    a = forecast_arrays()
    ds = custom.load(path=write(tmp_path, **a), task=task)
    assert (ds.name, ds.task, ds.regime, ds.num_channels) == ("custom", task, "windows", 3)
    keep = {"train": [0, 2, 4], "val": [1], "test": [3]}
    raw_train = pieces(a["values"], a["lengths"], keep["train"]).astype(np.float64)
    mean, std = raw_train.mean(0), raw_train.std(0, ddof=1)  # hand-computed, train only
    assert np.allclose(ds.norm_mean.numpy(), mean, atol=1e-5)
    assert np.allclose(ds.norm_std.numpy(), std, atol=1e-5)
    for split, idx in keep.items():
        s = ds.split(split)
        assert s.lengths.tolist() == a["lengths"][idx].tolist()
        want = (pieces(a["values"], a["lengths"], idx) - mean) / std
        assert s.values.dtype == torch.float32
        assert np.allclose(s.values.numpy(), want, atol=1e-5)
        if task == "classify":
            assert s.labels.tolist() == a["labels"][idx].tolist()
        else:
            assert s.labels is None  # labels are ignored outside classify
    assert ds.num_classes == (3 if task == "classify" else None)
    assert ds.info["split_from"] == "file"


def test_round_trip_lm_integer_split_ids(tmp_path):
    values = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], dtype=np.int32)
    lengths = np.array([3, 4, 3])
    ds = custom.load(
        path=write(tmp_path, values=values, lengths=lengths, split=np.array([2, 0, 1])), task="lm"
    )
    assert ds.vocab_size == 10 and ds.num_channels == 0 and ds.norm_mean is None
    assert ds.train.values.dtype == torch.long
    assert ds.train.values.tolist() == [1, 5, 9, 2] and ds.train.lengths.tolist() == [4]
    assert ds.val.values.tolist() == [6, 5, 3] and ds.test.values.tolist() == [3, 1, 4]


def test_lm_accepts_whole_floats_and_1d_forecast_is_one_channel(tmp_path):
    path = write(
        tmp_path,
        values=np.array([0.0, 2.0, 1.0, 1.0, 3.0, 0.0]),
        lengths=np.array([2, 2, 2]),
        split=[0, 1, 2],
    )
    assert custom.load(path=path, task="lm").train.values.tolist() == [0, 2]
    ds = custom.load(path=path, task="forecast", regime="stateful")
    assert ds.num_channels == 1 and ds.train.values.shape == (2, 1) and ds.regime == "stateful"
    assert len(ds.val) == 1 and len(ds.test) == 1


def test_random_split_is_seeded_and_covers_everything(tmp_path):
    S = 50
    path = write(tmp_path, values=np.arange(3 * S, dtype=float), lengths=np.full(S, 3))
    a = custom.load(path=path, task="forecast", seed=1, val_fraction=0.2, test_fraction=0.1)
    b = custom.load(path=path, task="forecast", seed=1, val_fraction=0.2, test_fraction=0.1)
    c = custom.load(path=path, task="forecast", seed=2, val_fraction=0.2, test_fraction=0.1)
    assert [len(a.split(s)) for s in ("train", "val", "test")] == [35, 10, 5]

    def ids(ds):  # sequence index of every sequence in each split, via its first raw value
        return [
            sorted(
                int(round(v)) // 3
                for v in (ds.split(s).values[::3, 0] * ds.norm_std + ds.norm_mean).tolist()
            )
            for s in ("train", "val", "test")
        ]

    assert ids(a) == ids(b) != ids(c)
    assert sorted(sum(ids(a), [])) == list(range(S))
    assert all(x == sorted(x) for x in ids(a))  # file order kept within a split
    tiny = write(tmp_path, "tiny.npz", values=np.zeros(6), lengths=np.array([2, 2, 2]))
    assert [
        len(custom.load(path=tiny, task="forecast").split(s)) for s in ("train", "val", "test")
    ] == [1, 1, 1]


def test_yaml_marks_path_and_task_mandatory():
    cfg = OmegaConf.load(CONF / "custom.yaml")
    assert cfg._target_ == "replication.data.custom.load"
    assert OmegaConf.is_missing(cfg, "path") and OmegaConf.is_missing(cfg, "task")


def test_yaml_instantiates_with_path_and_task(tmp_path):
    cfg = OmegaConf.load(CONF / "custom.yaml")
    cfg.path, cfg.task = write(tmp_path, **forecast_arrays()), "classify"
    ds = hydra.utils.instantiate(cfg)
    assert ds.name == "custom" and ds.task == "classify" and len(ds.train) == 3


def test_relative_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path, **forecast_arrays())
    monkeypatch.chdir(tmp_path)
    assert len(custom.load(path="data.npz", task="forecast").train) == 3


def one_line_error(match, tmp_path, task="forecast", **arrays):
    path = write(tmp_path, **arrays)
    with pytest.raises(ValueError, match=match) as info:
        custom.load(path=path, task=task)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"custom data file {path}: ")
    return msg


def test_missing_fields(tmp_path):
    a = forecast_arrays()
    msg = one_line_error("missing field 'values'", tmp_path, lengths=a["lengths"], vals=a["values"])
    assert "found: lengths, vals" in msg
    one_line_error("missing field 'lengths'", tmp_path, values=a["values"])
    one_line_error(
        "missing field 'labels' \\(needed for task 'classify'\\)",
        tmp_path,
        "classify",
        values=a["values"],
        lengths=a["lengths"],
    )


def test_inconsistent_fields(tmp_path):
    a = forecast_arrays()  # 20 steps in 5 sequences
    one_line_error(
        "'lengths' sums to 21 but 'values' has 20 steps",
        tmp_path,
        values=a["values"],
        lengths=a["lengths"] + np.array([1, 0, 0, 0, 0]),
    )
    one_line_error(
        "'labels' has shape \\(4,\\) but 'lengths' gives 5 sequences",
        tmp_path,
        "classify",
        values=a["values"],
        lengths=a["lengths"],
        labels=a["labels"][:4],
    )
    one_line_error(
        "'split' has shape \\(3,\\)",
        tmp_path,
        values=a["values"],
        lengths=a["lengths"],
        split=[0, 1, 2],
    )
    one_line_error(
        "'lengths'\\[3\\] is 1; task 'forecast' needs every length >= 2",
        tmp_path,
        values=a["values"][:19],
        lengths=np.array([4, 3, 5, 1, 6]),
    )
    one_line_error(
        "'lengths' must hold whole numbers",
        tmp_path,
        values=a["values"],
        lengths=a["lengths"] + 0.5,
    )
    one_line_error(
        "'labels' must be non-negative",
        tmp_path,
        "classify",
        values=a["values"],
        lengths=a["lengths"],
        labels=np.array([0, -1, 0, 0, 0]),
    )


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ([0, 1, 3, 0, 0], "'split'[2] is 3;"),
        (["train", "valid", "test", "train", "train"], "'split'[1] is 'valid';"),
        ([0, 1, 2, 0, 0.5], "'split'[4] is 0.5;"),
    ],
)
def test_bad_split_values(tmp_path, bad, named):
    a = forecast_arrays()
    msg = one_line_error(
        "valid values: 0, 1, 2 or 'train', 'val', 'test'",
        tmp_path,
        values=a["values"],
        lengths=a["lengths"],
        split=np.array(bad),
    )
    assert named in msg


def test_no_train_sequence(tmp_path):
    a = forecast_arrays()
    one_line_error(
        "no sequence is in the train split",
        tmp_path,
        values=a["values"],
        lengths=a["lengths"],
        split=np.full(5, 1),
    )


def test_lm_needs_non_negative_integers(tmp_path):
    lengths = np.array([2, 2])
    one_line_error(
        "non-negative integers for task 'lm' \\(found 0.5 at step 2\\)",
        tmp_path,
        "lm",
        values=np.array([1.0, 2.0, 0.5, 3.0]),
        lengths=lengths,
    )
    one_line_error(
        "non-negative integers for task 'lm' \\(found -1 at step 1\\)",
        tmp_path,
        "lm",
        values=np.array([1, -1, 0, 3]),
        lengths=lengths,
    )
    one_line_error(
        "must be \\(N,\\) token ids for task 'lm'",
        tmp_path,
        "lm",
        values=np.zeros((4, 2)),
        lengths=lengths,
    )


def test_non_finite_and_non_numeric_values(tmp_path):
    lengths = np.array([2, 2])
    one_line_error(
        "NaN or infinite entry at step 2",
        tmp_path,
        values=np.array([[1.0], [2.0], [np.nan], [0.0]]),
        lengths=lengths,
    )
    one_line_error(
        "numeric \\(N,\\) or \\(N, C\\) array",
        tmp_path,
        values=np.array(["a", "b", "c", "d"]),
        lengths=lengths,
    )


def test_unknown_task_and_regime_name_the_choices(tmp_path):
    path = write(tmp_path, **forecast_arrays())
    with pytest.raises(
        ValueError, match="unknown task 'regress'; valid choices: lm, forecast, classify"
    ):
        custom.load(path=path, task="regress")
    with pytest.raises(
        ValueError, match="unknown regime 'online'; valid choices: windows, stateful"
    ):
        custom.load(path=path, task="forecast", regime="online")
    with pytest.raises(ValueError, match="classify' needs regime 'windows'"):
        custom.load(path=path, task="classify", regime="stateful")


def test_unreadable_files(tmp_path):
    with pytest.raises(custom.CustomDataError, match="custom data file .*nope.npz: no such file"):
        custom.load(path=str(tmp_path / "nope.npz"), task="lm")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        custom.load(path=str(tmp_path / "one.npy"), task="lm")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="cannot read it as .npz"):
        custom.load(path=str(tmp_path / "junk.npz"), task="lm")
    a = forecast_arrays()
    path = write(
        tmp_path,
        "obj.npz",
        values=a["values"],
        lengths=a["lengths"],
        split=np.array(["train", 1], dtype=object),
    )
    with pytest.raises(ValueError, match="field 'split' is an object array"):
        custom.load(path=path, task="forecast")


def load_error(path, match, **options):
    """``custom.load`` fails with one line that starts with the file's name and matches ``match``."""
    with pytest.raises(custom.CustomDataError, match=match) as info:
        custom.load(path=path, **options)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"custom data file {path}: "), msg
    return msg


def three_splits(n=3):
    """``split`` for ``n >= 3`` sequences with every split non-empty."""
    return np.array(["train"] * (n - 2) + ["val", "test"])


def test_lm_token_id_at_or_beyond_max_vocab(tmp_path):
    # vocab_size = max id + 1 sizes the embedding and the softmax: 1e9 would allocate ~128 GB.
    lengths, split = np.array([2, 2, 2]), three_splits()
    path = write(tmp_path, values=np.array([0, 1, 10**9, 2, 1, 0]), lengths=lengths, split=split)
    msg = load_error(path, "'values' has token id 1000000000 at step 2", task="lm")
    assert "data.max_vocab" in msg and "1000000" in msg
    floats = write(
        tmp_path, "f.npz", values=np.array([0, 1, 1e9, 2, 1, 0]), lengths=lengths, split=split
    )
    load_error(floats, "token id 1000000000(\\.0)? at step 2", task="lm")
    # uint64 ids beyond int64 must not wrap to negative numbers on the way to int64.
    u = write(
        tmp_path,
        "u.npz",
        values=np.array([0, 2**64 - 1, 1, 1, 0, 0], dtype=np.uint64),
        lengths=lengths,
        split=split,
    )
    load_error(u, "token id 18446744073709551615 at step 1", task="lm")
    # The bound is a setting: exactly max_vocab - 1 is fine, max_vocab is not.
    ok = write(
        tmp_path, "ok.npz", values=np.array([0, 1, 9, 2, 1, 0]), lengths=lengths, split=split
    )
    assert custom.load(path=ok, task="lm", max_vocab=10).vocab_size == 10
    load_error(ok, "token id 9 at step 2; .*data.max_vocab=9", task="lm", max_vocab=9)
    with pytest.raises(ValueError, match="data.max_vocab must be a positive integer"):
        custom.load(path=ok, task="lm", max_vocab=0)


def test_yaml_max_vocab_default_matches_the_loader():
    import inspect

    cfg = OmegaConf.load(CONF / "custom.yaml")
    default = inspect.signature(custom.load).parameters["max_vocab"].default
    assert cfg.max_vocab == default == 1_000_000


@pytest.mark.parametrize(
    ("lengths", "match"),
    [
        # int64 sum wraps to exactly len(values) = 4: this used to segfault in repeat_interleave
        (
            np.array([2**62] * 4 + [4], dtype=np.int64),
            "'lengths'\\[0\\] is 4611686018427387904, but 'values' has only 4 steps",
        ),
        # wraps to 0
        (np.array([2**62] * 4, dtype=np.int64), "'lengths'\\[0\\] is 4611686018427387904"),
        (np.array([2, 2**64 - 2], dtype=np.uint64), "'lengths'\\[1\\] is 18446744073709551614"),
        (np.array([2.0, 1e30]), "'lengths'\\[1\\] is 1000000000000000019884624838656"),
    ],
)
def test_huge_lengths_are_a_clear_error(tmp_path, lengths, match):
    path = write(tmp_path, values=np.zeros(4), lengths=lengths)
    load_error(path, match, task="forecast")


def test_lengths_sum_is_exact(tmp_path):
    # every length fits, but the sum (checked as a Python int) does not match
    path = write(tmp_path, values=np.zeros(6), lengths=np.array([2, 2, 3]))
    load_error(path, "'lengths' sums to 7 but 'values' has 6 steps", task="forecast")


def test_values_beyond_float32_are_rejected(tmp_path):
    values = np.random.default_rng(0).normal(size=(12, 2))
    values[7, 1] = -1e39  # finite in float64, inf in float32
    path = write(tmp_path, values=values, lengths=np.array([4, 4, 4]), split=three_splits())
    msg = load_error(path, "'values' has -1e\\+39 at step 7, channel 1", task="forecast")
    assert "float32" in msg


def test_standardised_values_must_square_in_float32(tmp_path):
    values = np.random.default_rng(0).normal(size=(12, 1))
    values[10, 0] = 1e30  # a test outlier: standardised with train stats, its square is 1e60
    path = write(tmp_path, values=values, lengths=np.array([4, 4, 4]), split=three_splits())
    msg = load_error(path, "standardised .* at step 10 \\(test split\\)", task="forecast")
    assert "float32" in msg


def test_statistics_near_float32_max_are_exact(tmp_path):
    # float32 sums of 3e38 overflow; float64 statistics standardise these to modest numbers
    big = 3e38 * np.array([1, -1, 1, -1, 0.5, -0.5, 1, -1, 0.25, 0.5], dtype=np.float64)
    path = write(tmp_path, values=big, lengths=np.array([6, 2, 2]), split=three_splits())
    ds = custom.load(path=path, task="forecast")
    train = big[:6]
    mean, std = train.mean(), train.std(ddof=1)
    assert np.isfinite(ds.norm_mean.numpy()).all() and np.isfinite(ds.norm_std.numpy()).all()
    assert np.allclose(ds.norm_std.double().numpy(), std, rtol=1e-6)
    for split, raw in (("train", train), ("val", big[6:8]), ("test", big[8:])):
        got = ds.split(split).values[:, 0].double().numpy()
        assert np.isfinite(got).all() and np.allclose(got, (raw - mean) / std, atol=1e-6)


def test_text_file_named_npz(tmp_path):
    (tmp_path / "x.npz").write_text("step,value\n0,1.5\n")
    msg = load_error(
        str(tmp_path / "x.npz"),
        "not a NumPy .npz archive \\(write it with numpy.savez\\)$",
        task="lm",
    )
    assert "pickle" not in msg
    (tmp_path / "empty.npz").write_bytes(b"")
    load_error(str(tmp_path / "empty.npz"), "not a NumPy .npz archive", task="lm")
    load_error(str(tmp_path / "nope.npz"), "no such file", task="lm")


def test_empty_val_or_test_split_is_an_error(tmp_path):
    values, lengths = np.random.default_rng(0).normal(size=(800, 2)), [40] * 20
    ev = write(
        tmp_path, "ev.npz", values=values, lengths=lengths, split=["train"] * 17 + ["test"] * 3
    )
    msg = load_error(ev, "no sequence is in the val split", task="forecast")
    assert "split 'val'" in msg and "data.val_fraction" in msg
    et = write(tmp_path, "et.npz", values=values, lengths=lengths, split=[0] * 17 + [1] * 3)
    load_error(et, "no sequence is in the test split.*split 'test'", task="forecast")
    rnd = write(tmp_path, "rnd.npz", values=values, lengths=lengths)
    load_error(rnd, "val split is empty.*data.val_fraction", task="forecast", val_fraction=0.0)
    load_error(rnd, "test split is empty.*data.test_fraction", task="forecast", test_fraction=0.0)
    few = write(tmp_path, "few.npz", values=values[:80], lengths=lengths[:2])
    load_error(few, "2 sequences are too few", task="forecast")


def test_classify_label_at_or_beyond_max_classes(tmp_path):
    # num_classes = max label + 1 sizes the output layer: 1e12 tried to allocate 256 TB (issue 21).
    a = forecast_arrays()
    path = write(tmp_path, **{**a, "labels": np.array([1, 0, 10**12, 1, 0])})
    msg = load_error(path, "'labels' has class 1000000000000 at sequence 2", task="classify")
    assert "data.max_classes=10000" in msg
    floats = write(tmp_path, "f.npz", **{**a, "labels": np.array([1, 0, 1e12, 1, 0])})
    load_error(floats, "class 1000000000000(\\.0)? at sequence 2", task="classify")
    u = write(tmp_path, "u.npz", **{**a, "labels": np.array([1, 2**64 - 1, 0, 1, 0], dtype=np.uint64)})
    load_error(u, "class 18446744073709551615 at sequence 1", task="classify")
    # The bound is a setting: max_classes - 1 is fine, max_classes is not.
    assert custom.load(path=write(tmp_path, "ok.npz", **a), task="classify", max_classes=3).num_classes == 3
    load_error(write(tmp_path, "ok.npz", **a), "class 2 at sequence 2; .*data.max_classes=2", task="classify",
               max_classes=2)
    with pytest.raises(ValueError, match="data.max_classes must be a positive integer"):
        custom.load(path=path, task="classify", max_classes=0)


def test_an_unknown_field_is_an_error_naming_the_known_ones(tmp_path):
    a = forecast_arrays()
    split = a.pop("split")
    path = write(tmp_path, **a, splt=split)  # a misspelt split would have meant a random split
    load_error(path, "unknown field 'splt'; known fields: values, lengths, labels, split$", task="forecast")


def test_yaml_max_classes_default_matches_the_loader_and_keeps_run_keys(tmp_path):
    import inspect

    from hydra import compose, initialize_config_dir

    from replication.run import config_hash

    cfg = OmegaConf.load(CONF / "custom.yaml")
    assert cfg.max_classes == inspect.signature(custom.load).parameters["max_classes"].default == 10_000
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF.parent)):
        over = ["experiment=yours", "data.path=x.npz", "data.task=classify"]
        # the key of this config before data.max_classes existed: finished runs stay finished
        # (d2536f954ec5784e since protocol v3 gave synthetic_long 20 evaluation sequences in default.yaml)
        assert config_hash(compose("train", overrides=over)) == "d2536f954ec5784e"
        assert config_hash(compose("train", overrides=[*over, "data.max_classes=10"])) != "d2536f954ec5784e"
