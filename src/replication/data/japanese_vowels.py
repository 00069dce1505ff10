"""UEA JapaneseVowels: many short multichannel sequences, 9-way speaker classification.

Source: ``aeon.datasets.load_japanese_vowels`` (the UEA archive copy shipped inside aeon; no
network). Nine male speakers utter the vowel pair /ae/; each utterance is a sequence of 7–29 frames
of 12 LPC cepstrum coefficients, and the label is the speaker.

Splits:
    test   the official UEA test split, 370 sequences, untouched.
    train  the official UEA train split (270 sequences, 30 per speaker) minus ``val``.
    val    carved from the official train split, stratified by class: in each class a seeded
           random ``round(val_fraction * n_class)`` sequences (clamped to ``[1, n_class - 1]``)
           go to val. With the default ``val_fraction = 0.2`` that is 6 per class, so
           train/val/test = 216/54/370 sequences. Within a split the official order is kept.

Normalisation: per channel, with the mean and std over every time step of the final ``train``
split (val excluded), applied to all three splits (:func:`replication.data.base.normalize`).
Each time step counts once, so long sequences weigh more than short ones.

Cache: importing aeon costs ~3 s (it pulls pandas, scipy and numba), and a sweep loads the
dataset in every worker process, so the raw arrays (before splitting and normalisation, hence
independent of every option) are saved once to ``cache_dir("japanese_vowels")`` and later loads
read that file without importing aeon at all.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .base import SequenceDataset, Split, cached_raw, normalize, require

NAME = "japanese_vowels"
NUM_CHANNELS = 12
NUM_CLASSES = 9
# Bump when the layout of the cached file changes, so stale caches are rebuilt, not misread.
CACHE_VERSION = 1


def load(*, val_fraction: float = 0.2, seed: int = 0, cache: bool = True) -> SequenceDataset:
    """Load JapaneseVowels as a ``classify`` / ``windows`` dataset.

    Args:
        val_fraction: share of each class of the official train split moved to ``val``,
            in ``(0, 1)``.
        seed: seeds the stratified choice of validation sequences (and nothing else).
        cache: read/write the raw arrays under ``cache_dir("japanese_vowels")``; ``False``
            always rebuilds from aeon and writes nothing.

    Returns:
        A :class:`SequenceDataset` whose splits hold ``values`` ``(N, 12)`` float32 (normalised),
        ``lengths`` ``(S,)`` int64 in ``[7, 29]`` and ``labels`` ``(S,)`` int64 in ``[0, 8]``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    raw, cache_path, from_cache = cached_raw(NAME, CACHE_VERSION, _build, cache)
    official = Split(raw["train_values"], raw["train_lengths"], raw["train_labels"])
    test = Split(raw["test_values"], raw["test_lengths"], raw["test_labels"])

    val_idx = stratified_indices(official.labels, val_fraction, seed)
    is_val = torch.zeros(len(official), dtype=torch.bool)
    is_val[val_idx] = True
    train, val = subset(official, ~is_val), subset(official, is_val)

    # Statistics in float64 (the source precision), then everything is stored as float32.
    mean, std = normalize(train, val, test)
    for s in (train, val, test):
        s.values = s.values.float()

    ds = SequenceDataset(
        name=NAME,
        task="classify",
        regime="windows",
        train=train,
        val=val,
        test=test,
        num_channels=NUM_CHANNELS,
        num_classes=NUM_CLASSES,
        norm_mean=mean.float(),
        norm_std=std.float(),
    )
    ds.info = {
        "source": raw["source"],
        "classes": list(raw["classes"]),
        "val_fraction": val_fraction,
        "seed": seed,
        "split": "official UEA train/test; val stratified from train",
        "cache": str(cache_path) if cache_path else None,
        "from_cache": from_cache,
        "sizes": ds.sizes(),
    }
    return ds


def stratified_indices(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Pick ``round(fraction * n_c)`` (clamped to ``[1, n_c - 1]``) indices from every class ``c``.

    Args:
        labels: ``(S,)`` int64.
    Returns:
        ``(V,)`` int64 sorted indices into ``labels``; the choice depends only on ``seed``
        (a private generator, so the global RNG is neither read nor advanced).
    """
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        n = len(members)
        k = min(max(round(fraction * n), 1), n - 1) if n > 1 else 0
        picked.append(members[torch.randperm(n, generator=gen)[:k]])
    return torch.sort(torch.cat(picked)).values


def subset(split: Split, keep: Tensor) -> Split:
    """The sequences flagged by ``keep`` (``(S,)`` bool), in their original order, values copied."""
    # np.repeat, not torch.repeat_interleave: on this 2-core machine the latter took ~10 ms per
    # call through the intra-op thread pool, which dominated a cached load.
    steps = torch.from_numpy(np.repeat(keep.numpy(), split.lengths.numpy()))
    labels = None if split.labels is None else split.labels[keep]
    return Split(split.values[steps], split.lengths[keep], labels)


def _build() -> dict:
    """Read both official splits from aeon.

    Returns:
        ``{train,test}_values`` ``(N, 12)`` float64, ``{train,test}_lengths`` ``(S,)`` int64,
        ``{train,test}_labels`` ``(S,)`` int64 in ``[0, 8]``, ``classes`` (the original label
        strings, index = label id), ``source`` and ``version``.
    """
    aeon = require("aeon", NAME)
    from aeon.datasets import load_japanese_vowels

    out: dict = {
        "version": CACHE_VERSION,
        "source": f"aeon {aeon.__version__} load_japanese_vowels",
    }
    parts = {s: load_japanese_vowels(split=s) for s in ("train", "test")}
    # Labels are the strings "1".."9"; sort numerically so id = speaker number - 1.
    classes = sorted({str(v) for _, y in parts.values() for v in y}, key=int)
    if len(classes) != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} classes, aeon gave {classes}")
    index = {c: i for i, c in enumerate(classes)}
    for s, (X, y) in parts.items():
        # aeon gives a list of (channels, length) arrays for unequal-length data; we want (L, C).
        seqs = [torch.as_tensor(x, dtype=torch.float64).T.contiguous() for x in X]
        if any(q.shape[1] != NUM_CHANNELS for q in seqs):
            raise ValueError(f"expected {NUM_CHANNELS} channels in every {s} sequence")
        out[f"{s}_values"] = torch.cat(seqs)
        out[f"{s}_lengths"] = torch.tensor([len(q) for q in seqs], dtype=torch.long)
        out[f"{s}_labels"] = torch.tensor([index[str(v)] for v in y], dtype=torch.long)
    out["classes"] = classes
    return out
