"""Your own sequences from one ``.npz`` file.

File format (``numpy.savez(path, values=..., lengths=..., labels=..., split=...)``):

* ``values`` (required): every sequence's steps concatenated in file order, shape ``(N,)`` or
  ``(N, C)``.
    * task ``lm``: shape ``(N,)``, non-negative whole numbers (any integer dtype, or floats
      holding whole numbers) below ``max_vocab`` (default 1,000,000; ``data.max_vocab``), since
      ``vocab_size = values.max() + 1`` over all splits sizes the embedding and output layers.
    * task ``forecast`` / ``classify``: real numbers, shape ``(N, C)`` (``(N,)`` means ``C = 1``),
      all finite and within float32's range (magnitude <= 3.4e38; the model runs in float32);
      standardised per channel with the mean and (unbiased) std of the train split only,
      computed in float64. The standardised values of each split, squared and summed, must stay
      within float32's range too (else the MSE or the model's sums would overflow).
* ``lengths`` (required): shape ``(S,)``, whole numbers summing to ``N`` (checked as exact
  Python integers, so huge lengths cannot wrap around); sequence ``i`` is
  ``values[sum(lengths[:i]) : sum(lengths[:i + 1])]``. Every length must be at least 2 for ``lm``
  and ``forecast`` (one input/target pair, ``x[:-1]`` predicts ``x[1:]``) and at least 1 for
  ``classify``.
* ``labels`` (required for ``classify``, ignored otherwise): shape ``(S,)``, non-negative whole
  numbers below ``max_classes`` (default 10,000; ``data.max_classes``), one class per sequence;
  ``num_classes = labels.max() + 1`` sizes the output layer.
* ``split`` (optional): shape ``(S,)``, each entry ``0``/``1``/``2`` or ``"train"``/``"val"``/
  ``"test"`` (a fixed-width string array, as ``np.array(["train", ...])`` gives; object arrays
  are not read). Without it, a random split seeded by ``seed`` puts ``round(val_fraction * S)``
  sequences in val and ``round(test_fraction * S)`` in test (at least one each when the fraction
  is positive) and the rest in train. No split may be empty: an empty val or test split would be
  scored as loss 0, so ``S >= 3`` and, without ``split``, both fractions must be positive.

Within each split, sequences keep their order in the file. Any other field is an error naming the
known ones (a misspelt ``split`` would otherwise give a random split without a word).
For ``regime: stateful`` (few long sequences), a single long recording can be cut into, e.g.,
three sequences with ``split = [0, 1, 2]`` (train on the start, validate and test on later parts).

Example::

    np.savez("mydata.npz", values=np.random.randn(100, 3), lengths=[40, 35, 25],
             labels=[0, 1, 0], split=["train", "val", "test"])
    python experiments/train.py data=custom data.path=mydata.npz data.task=classify

A malformed file fails before any training with one line naming the file and the field, e.g.
``custom data file mydata.npz: 'lengths' sums to 90 but 'values' has 100 steps``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import REGIMES, TASKS, SequenceDataset, Split

SPLIT_NAMES = ("train", "val", "test")
FIELDS = ("values", "lengths", "labels", "split")
F32_MAX = float(np.finfo(np.float32).max)  # ~3.4e38: the model, its inputs and losses are float32


class CustomDataError(ValueError):
    """A malformed custom data file (the message names the file and the field)."""


def load(
    *,
    path: str,
    task: str,
    regime: str = "windows",
    name: str = "custom",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    max_vocab: int = 1_000_000,
    max_classes: int = 10_000,
) -> SequenceDataset:
    """Read a user's ``.npz`` file (format in the module docstring) into a :class:`SequenceDataset`.

    ``max_vocab`` bounds ``vocab_size`` for ``lm`` (every token id must be ``< max_vocab``): one
    stray huge id would otherwise make the model allocate an embedding of that many rows;
    ``max_classes`` bounds ``num_classes`` for ``classify`` in the same way.

    Returns:
        Splits whose ``values`` are ``(N_split,)`` int64 (lm) or ``(N_split, C)`` float32, with
        ``lengths`` ``(S_split,)`` and, for classify, ``labels`` ``(S_split,)`` int64; for
        forecast/classify ``norm_mean`` and ``norm_std`` are ``(C,)`` float32.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid choices: {', '.join(TASKS)}")
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; valid choices: {', '.join(REGIMES)}")
    if task == "classify" and regime != "windows":
        raise ValueError("task 'classify' needs regime 'windows' (one label per sequence)")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"need 0 <= val_fraction, test_fraction and val_fraction + test_fraction < 1, "
            f"got {val_fraction}, {test_fraction}"
        )
    for key, bound in (("max_vocab", max_vocab), ("max_classes", max_classes)):
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            raise ValueError(f"data.{key} must be a positive integer, got {bound!r}")
    where = f"custom data file {path}"

    def fail(msg: str):
        return CustomDataError(f"{where}: {msg}")

    file = _resolve(path)
    if not file.is_file():
        what = "is a directory, not a file" if file.is_dir() else "no such file"
        raise fail(f"{what} ({file}; relative paths are taken from the launch directory)")
    arrays = _read(file, fail)

    found = ", ".join(sorted(arrays)) or "none"
    for key in ("values", "lengths") + (("labels",) if task == "classify" else ()):
        if key not in arrays:
            need = f" (needed for task {task!r})" if key == "labels" else ""
            raise fail(f"missing field {key!r}{need}; found: {found}")
    unknown = [k for k in sorted(arrays) if k not in FIELDS]
    if unknown:
        raise fail(f"unknown field {unknown[0]!r}; known fields: {', '.join(FIELDS)}")

    values = arrays["values"]
    if values.dtype.kind not in "iuf" or values.ndim not in (1, 2):
        raise fail(
            f"'values' must be a numeric (N,) or (N, C) array, got dtype {values.dtype} shape {values.shape}"
        )
    lengths = _lengths(arrays["lengths"], len(values), task, fail)
    S = len(lengths)

    labels = None
    if task == "classify":
        raw_labels = arrays["labels"]
        # Before the int64 cast (uint64 or float ids beyond int64 would wrap): 1e12 would allocate
        # an output layer of 1e12 rows.
        too_big = raw_labels >= max_classes if raw_labels.dtype.kind in "iuf" else np.zeros(0, bool)
        if too_big.any():
            i = int(np.argmax(too_big.reshape(-1)))
            raise fail(
                f"'labels' has class {raw_labels.reshape(-1)[i]} at sequence {i}; task 'classify' needs "
                f"every label < data.max_classes={max_classes} (num_classes = max label + 1); remap "
                "the labels to 0..K-1 or raise data.max_classes"
            )
        labels = _whole(raw_labels, "labels", fail)
        if labels.shape != (S,):
            raise fail(f"'labels' has shape {labels.shape} but 'lengths' gives {S} sequences")
        if labels.min() < 0:
            raise fail(f"'labels' must be non-negative class ids, found {labels.min()}")

    if task == "lm":
        if values.ndim != 1:
            raise fail(f"'values' must be (N,) token ids for task 'lm', got shape {values.shape}")
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(
                f"'values' must be non-negative integers for task 'lm' (found {values[i]} at step {i})"
            )
        # Before the int64 cast: uint64 or float ids beyond int64 would wrap instead of failing.
        too_big = values >= max_vocab
        if too_big.any():
            i = int(np.argmax(too_big))
            raise fail(
                f"'values' has token id {values[i]} at step {i}; task 'lm' needs every id < "
                f"data.max_vocab={max_vocab} (vocab_size = max id + 1); remap the ids to "
                "0..V-1 or raise data.max_vocab"
            )
        flat = values.astype(np.int64)
    else:
        flat = values.reshape(len(values), -1).astype(np.float64)  # (N, C), a copy we may overwrite
        _check_raw(flat, fail)

    if "split" in arrays:
        assign = _split_ids(arrays["split"], S, fail)
        split_from = "file"
    else:
        assign = _random_split(S, val_fraction, test_fraction, seed, fail)
        split_from = (
            f"random (seed {seed}, val_fraction {val_fraction}, test_fraction {test_fraction})"
        )
    _check_nonempty(assign, split_from == "file", fail)

    split_of_step = np.repeat(assign, lengths)  # (N,); safe: lengths are checked to sum to N
    mean = std = None
    if task != "lm":
        flat, mean, std = _standardise(flat, split_of_step, fail)
    flat_t = torch.from_numpy(flat)
    lengths_t = torch.from_numpy(lengths)
    splits = {}
    for k, split in enumerate(SPLIT_NAMES):
        # boolean gathers keep the file order of sequences and of steps within the split
        seqs, steps = torch.from_numpy(assign == k), torch.from_numpy(split_of_step == k)
        lab = None if labels is None else torch.from_numpy(labels)[seqs]
        splits[split] = Split(flat_t[steps], lengths_t[seqs], lab)

    return SequenceDataset(
        name=name,
        task=task,
        regime=regime,
        **splits,
        vocab_size=int(values.max()) + 1 if task == "lm" else None,
        num_channels=0 if task == "lm" else flat.shape[1],
        num_classes=int(labels.max()) + 1 if labels is not None else None,
        norm_mean=mean,
        norm_std=std,
        info={"source": str(file), "num_sequences": S, "split_from": split_from},
    )


def _resolve(path) -> Path:
    """A relative path is taken from the launch directory, even when Hydra changed the cwd."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    try:
        from hydra.utils import to_absolute_path  # falls back to os.getcwd() outside a Hydra run
    except ImportError:
        return p.resolve()
    return Path(to_absolute_path(str(p)))


def _read(file: Path, fail) -> dict[str, np.ndarray]:
    """Every array in the archive, by name. Checks the magic bytes first: given anything that is
    neither a zip nor a .npy, ``np.load`` assumes a pickle and says so, which misleads."""
    with open(file, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise fail("a single-array .npy file, not an .npz archive (write it with numpy.savez)")
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip's local header / empty zip
        raise fail("not a NumPy .npz archive (write it with numpy.savez)")
    try:
        loaded = np.load(file, allow_pickle=False)
    except Exception as e:  # e.g. a truncated zip: say which, in one line
        detail = " ".join(str(e).split())
        raise fail(f"cannot read it as .npz ({type(e).__name__}: {detail})") from e
    out = {}
    with loaded:
        for key in loaded.files:
            try:
                out[key] = loaded[key]
            except ValueError as e:  # object arrays need pickle, which is never enabled
                raise fail(
                    f"field {key!r} is an object array; save it as a numeric or fixed-width string array"
                ) from e
            except Exception as e:  # a damaged member of an otherwise valid zip
                detail = " ".join(str(e).split())
                raise fail(f"cannot read field {key!r} ({type(e).__name__}: {detail})") from e
    return out


def _whole(arr: np.ndarray, key: str, fail) -> np.ndarray:
    """``arr`` as int64 if it holds only whole numbers, else a one-line error naming ``key``."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    raise fail(f"{key!r} must hold whole numbers, got dtype {arr.dtype}")


def _lengths(arr: np.ndarray, N: int, task: str, fail) -> np.ndarray:
    """``(S,)`` int64 lengths, each ``>= min`` for ``task``, summing to ``N``.

    Checked in exact Python integers before any int64 arithmetic: a sum that wraps around (say
    to exactly ``N``) would pass and later crash ``repeat_interleave``; a float or uint64 length
    beyond int64 would silently wrap in ``astype``.
    """
    min_len = 1 if task == "classify" else 2
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise fail(f"'lengths' must be a non-empty (S,) array, got shape {arr.shape}")
    whole = arr.dtype.kind in "iu" or (
        arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all()
    )
    if not whole:
        raise fail(f"'lengths' must hold whole numbers, got dtype {arr.dtype}")
    exact = [int(x) for x in arr.tolist()]  # Python ints: no overflow, whatever the dtype
    for i, n in enumerate(exact):
        if n < min_len:
            raise fail(f"'lengths'[{i}] is {n}; task {task!r} needs every length >= {min_len}")
        if n > N:
            raise fail(f"'lengths'[{i}] is {n}, but 'values' has only {N} steps")
    total = sum(exact)
    if total != N:
        raise fail(f"'lengths' sums to {total} but 'values' has {N} steps")
    return np.array(exact, dtype=np.int64)  # safe now: every length is in [min_len, N]


def _split_ids(split: np.ndarray, S: int, fail) -> np.ndarray:
    """``(S,)`` int64 in {0, 1, 2} from integer ids or the strings train/val/test."""
    if split.shape != (S,):
        raise fail(f"'split' has shape {split.shape} but 'lengths' gives {S} sequences")
    if split.dtype.kind in "US":
        text = split.astype(str)
        ids = np.full(S, -1, dtype=np.int64)
        for k, nm in enumerate(SPLIT_NAMES):
            ids[text == nm] = k
    elif split.dtype.kind in "iuf":
        ids = np.where(np.isin(split, (0, 1, 2)), split, -1).astype(np.int64)
    else:
        raise fail(f"'split' must hold 0/1/2 or 'train'/'val'/'test', got dtype {split.dtype}")
    if (ids < 0).any():
        i = int(np.argmax(ids < 0))
        raise fail(
            f"'split'[{i}] is {split[i].item()!r}; valid values: 0, 1, 2 or 'train', 'val', 'test'"
        )
    return ids


def _random_split(S: int, val_fraction: float, test_fraction: float, seed: int, fail) -> np.ndarray:
    """``(S,)`` ids in {0, 1, 2}: a seeded permutation, val and test taken from its front."""
    n_val = max(1, round(val_fraction * S)) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * S)) if test_fraction > 0 else 0
    if n_val + n_test >= S:
        raise fail(
            f"{S} sequences are too few for data.val_fraction {val_fraction} and "
            f"data.test_fraction {test_fraction} (train would be empty); give a 'split' field "
            "or smaller fractions"
        )
    perm = np.random.default_rng(seed).permutation(S)
    ids = np.zeros(S, dtype=np.int64)
    ids[perm[:n_val]] = 1
    ids[perm[n_val : n_val + n_test]] = 2
    return ids


def _check_nonempty(assign: np.ndarray, from_file: bool, fail) -> None:
    """Every split needs a sequence: an empty val/test split would be scored as loss 0.0."""
    for k, split in enumerate(SPLIT_NAMES):
        if (assign == k).any():
            continue
        if split == "train":
            raise fail("no sequence is in the train split")
        if from_file:
            raise fail(
                f"no sequence is in the {split} split ('split' has no {k}/{split!r} entry); add "
                f"sequences with split {split!r}, or drop the 'split' field to split at random "
                f"by data.{split}_fraction"
            )
        raise fail(
            f"the {split} split is empty because data.{split}_fraction is 0; set "
            f"data.{split}_fraction > 0 (e.g. 0.1) or give a 'split' field with {split!r} entries"
        )


def _check_raw(raw: np.ndarray, fail) -> None:
    """``raw`` ``(N, C)`` float64 must be finite and fit float32 (the model's dtype)."""
    finite = np.isfinite(raw).all(1)  # (N,)
    if not finite.all():
        raise fail(f"'values' has a NaN or infinite entry at step {int(np.argmin(finite))}")
    big = np.abs(raw) > F32_MAX
    if big.any():
        i, c = np.unravel_index(int(np.argmax(big)), raw.shape)
        raise fail(
            f"'values' has {raw[i, c]:.4g} at step {i}, channel {c}; float32 (the model's dtype) "
            f"holds magnitudes up to {F32_MAX:.4g}, so rescale the data"
        )


def _standardise(raw: np.ndarray, split_of_step: np.ndarray, fail):
    """Standardise ``raw`` ``(N, C)`` float64 in place with the train steps' mean and std.

    The statistics are float64 because float32 sums of values near 3e38 overflow; the result is
    float32, so every split's sum of squared standardised values (an upper bound on any square,
    and on the MSE at a zero prediction) must fit float32. Returns ``(values (N, C) float32,
    mean (C,) float32, std (C,) float32)``; same rules as ``base.normalize`` (unbiased std, 1
    for a constant channel or a single train step).
    """
    train = raw[split_of_step == 0]
    mean = train.mean(0)
    std = train.std(0, ddof=1) if len(train) > 1 else np.ones(raw.shape[1])
    std = np.where(std > 1e-8, std, 1.0)
    for c in np.flatnonzero(np.abs(std) > F32_MAX):  # only near +-3.4e38 with few train steps
        raise fail(
            f"the train std of 'values' channel {c} is {std[c]:.4g}, beyond float32's "
            f"{F32_MAX:.4g} (the model runs in float32); rescale the data"
        )
    raw -= mean
    raw /= std
    for k, split in enumerate(SPLIT_NAMES):
        rows = np.flatnonzero(split_of_step == k)
        z = raw[rows]
        total = float(np.square(z).sum())  # float64; inf if even that overflows
        if total > F32_MAX:
            i, c = np.unravel_index(int(np.argmax(np.abs(z))), z.shape)
            raise fail(
                f"'values' standardised with the train mean/std reach {z[i, c]:.4g} at step "
                f"{rows[i]} ({split} split), channel {c}; their squares sum to {total:.4g}, "
                f"beyond float32's {F32_MAX:.4g} (the model and its loss run in float32), so "
                "rescale the data or remove the outlier"
            )
    return (
        raw.astype(np.float32),
        torch.from_numpy(mean.astype(np.float32)),
        torch.from_numpy(std.astype(np.float32)),
    )
