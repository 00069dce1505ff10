"""Your own sequences from one ``.npz`` file.

File format (``numpy.savez(path, values=..., lengths=..., labels=..., split=...)``):

* ``values`` (required): every sequence's steps concatenated in file order, shape ``(N,)`` or
  ``(N, C)``.
    * task ``lm``: shape ``(N,)``, non-negative whole numbers (any integer dtype, or floats
      holding whole numbers); ``vocab_size = values.max() + 1`` over all splits.
    * task ``forecast`` / ``classify``: real numbers, shape ``(N, C)`` (``(N,)`` means ``C = 1``),
      all finite; standardised per channel with the mean and (unbiased) std of the train split
      only.
* ``lengths`` (required): shape ``(S,)``, whole numbers summing to ``N``; sequence ``i`` is
  ``values[sum(lengths[:i]) : sum(lengths[:i + 1])]``. Every length must be at least 2 for ``lm``
  and ``forecast`` (one input/target pair, ``x[:-1]`` predicts ``x[1:]``) and at least 1 for
  ``classify``.
* ``labels`` (required for ``classify``, ignored otherwise): shape ``(S,)``, non-negative whole
  numbers, one class per sequence; ``num_classes = labels.max() + 1``.
* ``split`` (optional): shape ``(S,)``, each entry ``0``/``1``/``2`` or ``"train"``/``"val"``/
  ``"test"`` (a fixed-width string array, as ``np.array(["train", ...])`` gives; object arrays
  are not read). Without it, a random split seeded by ``seed`` puts ``round(val_fraction * S)``
  sequences in val and ``round(test_fraction * S)`` in test (at least one each when the fraction
  is positive) and the rest in train. The train split must not be empty; val/test may be.

Within each split, sequences keep their order in the file. Other keys in the file are ignored.
For ``regime: stateful`` (few long sequences), a single long recording can be cut into, e.g.,
three sequences with ``split = [0, 1, 2]`` (train on the start, validate and test on later parts).

Example::

    np.savez("mydata.npz", values=np.random.randn(100, 3), lengths=[40, 35, 25],
             labels=[0, 1, 0], split=["train", "train", "test"])
    python experiments/train.py data=custom data.path=mydata.npz data.task=classify

A malformed file fails with one line naming the file and the field, e.g.
``custom data file mydata.npz: 'lengths' sums to 90 but 'values' has 100 steps``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import REGIMES, TASKS, SequenceDataset, Split, normalize

SPLIT_NAMES = ("train", "val", "test")


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
) -> SequenceDataset:
    """Read a user's ``.npz`` file (format in the module docstring) into a :class:`SequenceDataset`.

    Returns:
        Splits whose ``values`` are ``(N_split,)`` int64 (lm) or ``(N_split, C)`` float32, with
        ``lengths`` ``(S_split,)`` and, for classify, ``labels`` ``(S_split,)`` int64.
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
    file = _resolve(path)
    where = f"custom data file {path}"
    if not file.is_file():
        raise FileNotFoundError(f"{where}: no such file ({file})")
    arrays = _read(file, where)

    def fail(msg: str):
        return CustomDataError(f"{where}: {msg}")

    found = ", ".join(sorted(arrays)) or "none"
    for key in ("values", "lengths") + (("labels",) if task == "classify" else ()):
        if key not in arrays:
            need = f" (needed for task {task!r})" if key == "labels" else ""
            raise fail(f"missing field {key!r}{need}; found: {found}")

    values, lengths = arrays["values"], arrays["lengths"]
    if values.dtype.kind not in "iuf" or values.ndim not in (1, 2):
        raise fail(
            f"'values' must be a numeric (N,) or (N, C) array, got dtype {values.dtype} shape {values.shape}"
        )
    lengths = _whole(lengths, "lengths", fail)
    min_len = 1 if task == "classify" else 2
    if lengths.ndim != 1 or len(lengths) == 0:
        raise fail(f"'lengths' must be a non-empty (S,) array, got shape {lengths.shape}")
    if lengths.min() < min_len:
        i = int(np.argmin(lengths))
        raise fail(f"'lengths'[{i}] is {lengths[i]}; task {task!r} needs every length >= {min_len}")
    if int(lengths.sum()) != len(values):
        raise fail(f"'lengths' sums to {int(lengths.sum())} but 'values' has {len(values)} steps")
    S = len(lengths)

    labels = None
    if task == "classify":
        labels = _whole(arrays["labels"], "labels", fail)
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
        flat = torch.from_numpy(values.astype(np.int64))
    else:
        finite = np.isfinite(values.reshape(len(values), -1)).all(1)  # (N,)
        if not finite.all():
            raise fail(f"'values' has a NaN or infinite entry at step {int(np.argmin(finite))}")
        flat = torch.from_numpy(values.reshape(len(values), -1).astype(np.float32))

    if "split" in arrays:
        assign = _split_ids(arrays["split"], S, fail)
        split_from = "file"
    else:
        assign = _random_split(S, val_fraction, test_fraction, seed)
        split_from = (
            f"random (seed {seed}, val_fraction {val_fraction}, test_fraction {test_fraction})"
        )
    if not (assign == 0).any():
        raise fail("no sequence is in the train split")

    lengths_t = torch.from_numpy(lengths.astype(np.int64))
    seq_of_step = torch.repeat_interleave(torch.arange(S), lengths_t)
    assign_t = torch.from_numpy(assign)
    splits = {}
    for k, split in enumerate(SPLIT_NAMES):
        chosen = assign_t == k  # (S,) bool; steps keep their file order via the boolean gather
        lab = None if labels is None else torch.from_numpy(labels[assign == k].astype(np.int64))
        splits[split] = Split(flat[chosen[seq_of_step]], lengths_t[chosen], lab)

    mean = std = None
    if task != "lm":
        mean, std = normalize(splits["train"], splits["val"], splits["test"])
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


def _read(file: Path, where: str) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(file, allow_pickle=False)
    except Exception as e:  # a truncated or foreign file: say which, in one line
        raise CustomDataError(f"{where}: cannot read it as .npz ({type(e).__name__}: {e})") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CustomDataError(f"{where}: not an .npz archive (save it with numpy.savez)")
    out = {}
    with loaded:
        for key in loaded.files:
            try:
                out[key] = loaded[key]
            except ValueError as e:  # object arrays need pickle, which is never enabled
                raise CustomDataError(
                    f"{where}: field {key!r} is an object array; save it as a numeric or "
                    "fixed-width string array"
                ) from e
    return out


def _whole(arr: np.ndarray, key: str, fail) -> np.ndarray:
    """``arr`` as int64 if it holds only whole numbers, else a one-line error naming ``key``."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    raise fail(f"{key!r} must hold whole numbers, got dtype {arr.dtype}")


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


def _random_split(S: int, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """``(S,)`` ids in {0, 1, 2}: a seeded permutation, val and test taken from its front."""
    n_val = max(1, round(val_fraction * S)) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * S)) if test_fraction > 0 else 0
    if n_val + n_test >= S:
        raise ValueError(
            f"{S} sequences are too few for val_fraction {val_fraction} and test_fraction "
            f"{test_fraction} (train would be empty); give a 'split' field or smaller fractions"
        )
    perm = np.random.default_rng(seed).permutation(S)
    ids = np.zeros(S, dtype=np.int64)
    ids[perm[:n_val]] = 1
    ids[perm[n_val : n_val + n_test]] = 2
    return ids
