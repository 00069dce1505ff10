"""Batching in ``replication.data.base`` checked against hand-computed expectations.

Sequence ``i`` holds the values ``100 * i + j`` at step ``j``, so every input or target names its
own sequence and step and the tests can reconstruct where each step went.
"""

from __future__ import annotations

import pytest
import torch

from replication.data.base import SequenceDataset, Split, normalize


def tagged(lengths, channels: int | None = None) -> Split:
    """Sequence ``i`` = ``[100 i, 100 i + 1, ...]``: ``(N,)`` int64, or ``(N, C)`` float32 with
    channel ``c`` offset by ``0.5 c``."""
    seqs = [100 * i + torch.arange(n) for i, n in enumerate(lengths)]
    if channels is not None:
        seqs = [s[:, None].float() + 0.5 * torch.arange(channels) for s in seqs]
    return Split.from_sequences(seqs)


def dataset(train: Split, task="lm", regime="windows", **kw) -> SequenceDataset:
    empty = Split(train.values[:0], torch.zeros(0, dtype=torch.long))
    return SequenceDataset("t", task, regime, train, empty, empty, **kw)


# ---------------------------------------------------------------- windows


def test_windows_lm_pairs_padding_and_resets():
    ds = dataset(tagged([3, 2, 4]))
    b1, b2 = list(ds.batches("train", 2))
    # x[:-1] -> x[1:], padded with 0 to the longest pair count in the batch (2).
    assert b1.inputs.tolist() == [[0, 1], [100, 0]]
    assert b1.targets.tolist() == [[1, 2], [101, 0]]
    assert b1.mask.tolist() == [[True, True], [True, False]]
    assert b1.lengths.tolist() == [2, 1]
    assert b1.positions.tolist() == [[0, 1], [0, 1]]
    assert b1.reset.tolist() == [True, True]
    assert b2.inputs.tolist() == [[200, 201, 202]]
    assert b2.targets.tolist() == [[201, 202, 203]]
    assert b2.mask.all() and b2.reset.tolist() == [True]
    assert b1.inputs.dtype == b1.targets.dtype == torch.long
    assert b1.mask.dtype == b1.reset.dtype == torch.bool


def test_windows_forecast_channels():
    ds = dataset(tagged([2, 3], channels=2), task="forecast", num_channels=2)
    (b,) = list(ds.batches("train", 8))
    assert b.inputs.shape == b.targets.shape == (2, 2, 2)
    assert b.inputs.dtype == torch.float32
    assert b.inputs[:, :, 0].tolist() == [[0, 0], [100, 101]]
    assert b.inputs[:, :, 1].tolist() == [[0.5, 0], [100.5, 101.5]]
    assert b.targets[:, :, 0].tolist() == [[1, 0], [101, 102]]
    assert b.mask.tolist() == [[True, False], [True, True]]


def test_windows_classify_whole_sequence_and_labels():
    split = tagged([3, 1, 2], channels=1)
    split.labels = torch.tensor([2, 0, 1])
    ds = dataset(split, task="classify", num_channels=1, num_classes=3)
    (b,) = list(ds.batches("train", 3))
    assert b.inputs.shape == (3, 3, 1)  # the whole sequence is the input, no pair shift
    assert b.inputs[..., 0].tolist() == [[0, 1, 2], [100, 0, 0], [200, 201, 0]]
    assert b.targets.tolist() == [2, 0, 1]
    assert b.lengths.tolist() == [3, 1, 2]
    assert b.mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    assert b.reset.all()


def first_tokens(batches) -> list[int]:
    return [int(v) // 100 for b in batches for v in b.inputs[:, 0]]


def test_windows_shuffle_deterministic_covering_and_global_rng_free():
    ds = dataset(tagged([2 + i % 5 for i in range(23)]))

    def order(seed):
        return first_tokens(
            ds.batches("train", 4, shuffle=True, generator=torch.Generator().manual_seed(seed))
        )

    state = torch.get_rng_state()
    a, b, c = order(0), order(0), order(1)
    assert torch.equal(state, torch.get_rng_state()), "shuffling drew from the global RNG"
    assert a == b and a != c
    assert sorted(a) == list(range(23)) and a != list(range(23))  # each sequence exactly once
    assert first_tokens(ds.batches("train", 4)) == list(range(23))  # no shuffle: file order
    # Every row still holds one whole sequence: the targets are its inputs shifted by one.
    for bt in ds.batches("train", 4, shuffle=True, generator=torch.Generator().manual_seed(0)):
        m = bt.mask
        assert torch.equal(bt.targets[m], bt.inputs[m] + 1)
        assert torch.equal(bt.lengths, m.sum(1))


# ---------------------------------------------------------------- stateful


def stateful_rows(ds, batch_size, tbptt, **kw):
    """Concatenate the chunks of one epoch along time: ``(R, W)`` tensors plus the ``(n_chunks,
    R)`` reset flags."""
    chunks = list(ds.batches("train", batch_size, tbptt=tbptt, **kw))
    for c in chunks:
        assert c.inputs.shape[:2] == c.mask.shape == c.positions.shape == (c.mask.shape[0], tbptt)
        assert torch.equal(c.lengths, c.mask.sum(1))
    joined = {
        f: torch.cat([getattr(c, f) for c in chunks], 1)
        for f in ("inputs", "targets", "mask", "positions")
    }
    return (*joined.values(), torch.stack([c.reset for c in chunks]))


def check_stateful(lengths, batch_size, tbptt, **kw):
    ds = dataset(tagged(lengths), regime="stateful")
    x, y, mask, pos, reset = stateful_rows(ds, batch_size, tbptt, **kw)
    assert x.shape[0] == min(batch_size, len(lengths))
    seen = {}
    for r in range(x.shape[0]):
        cols = mask[r].nonzero().flatten()
        for t in cols.tolist():
            seq, step = divmod(int(x[r, t]), 100)
            assert int(y[r, t]) == int(x[r, t]) + 1  # target = next step of the same sequence
            assert int(pos[r, t]) == step  # positions count from 0 at each sequence start
            seen.setdefault(seq, []).append((r, t, step))
        # A reset is flagged in exactly the chunks where a sequence begins in this row, and a
        # sequence begins only at a chunk boundary.
        starts = [t for t in cols.tolist() if int(pos[r, t]) == 0]
        assert all(t % tbptt == 0 for t in starts)
        assert reset[:, r].nonzero().flatten().tolist() == [t // tbptt for t in starts]
    assert sorted(seen) == [i for i, n in enumerate(lengths) if n > 1]
    for seq, hits in seen.items():
        rows = {r for r, _, _ in hits}
        assert len(rows) == 1, f"sequence {seq} split over rows {rows}"
        ts = [t for _, t, _ in hits]
        assert [s for _, _, s in hits] == list(range(lengths[seq] - 1))  # once each, in order
        assert ts == list(range(ts[0], ts[0] + len(ts)))  # consecutive steps of one row
    assert (x[~mask] == 0).all() and (pos[~mask] == 0).all()
    return x, mask, reset


def test_stateful_hand_computed_layout():
    # Two sequences, two rows: each row holds one sequence, padded to whole chunks of 3.
    x, mask, reset = check_stateful([6, 3], batch_size=2, tbptt=3)
    assert x.tolist() == [[0, 1, 2, 3, 4, 0], [100, 101, 0, 0, 0, 0]]
    assert mask.sum(1).tolist() == [5, 2]
    assert reset.tolist() == [[True, True], [False, False]]


def test_stateful_sequence_after_sequence_resets_at_its_chunk():
    # One row: sequence 1 (pairs 0..1) must start at the chunk after sequence 0's padded end.
    x, mask, reset = check_stateful([5, 3], batch_size=1, tbptt=3)
    assert x.tolist() == [[0, 1, 2, 3, 0, 0, 100, 101, 0]]
    assert reset[:, 0].tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("lengths", "batch_size", "tbptt", "shuffle"),
    [
        ([9, 4, 6, 3], 2, 3, False),
        ([9, 4, 6, 3], 2, 3, True),
        ([50, 7, 13, 2, 31, 8, 8], 3, 5, True),
        ([11, 11], 5, 4, False),
        ([20], 1, 7, False),
        ([2, 2, 2, 2, 2], 2, 1, True),
    ],
)
def test_stateful_properties(lengths, batch_size, tbptt, shuffle):
    gen = torch.Generator().manual_seed(3) if shuffle else None
    check_stateful(lengths, batch_size, tbptt, shuffle=shuffle, generator=gen)


def test_stateful_shuffle_deterministic():
    ds = dataset(tagged([9, 4, 6, 3, 12, 5]), regime="stateful")

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return stateful_rows(ds, 2, 4, shuffle=True, generator=gen)

    assert all(torch.equal(a, b) for a, b in zip(run(0), run(0), strict=True))


def test_stateful_forecast_channels():
    ds = dataset(tagged([4, 6], channels=3), task="forecast", regime="stateful", num_channels=3)
    chunks = list(ds.batches("train", 2, tbptt=2))
    assert len(chunks) == 3
    assert chunks[0].inputs.shape == chunks[0].targets.shape == (2, 2, 3)
    assert chunks[0].inputs[1, :, 2].tolist() == [101, 102]  # channel 2 = value + 1.0
    assert chunks[0].targets[1, :, 0].tolist() == [101, 102]


# ---------------------------------------------------------------- errors and edge cases


@pytest.mark.parametrize("regime", ["windows", "stateful"])
@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one_errors(regime, batch_size):
    ds = dataset(tagged([3, 4]), regime=regime)
    with pytest.raises(ValueError, match="batch_size"):
        next(ds.batches("train", batch_size))


def test_tbptt_below_one_errors():
    with pytest.raises(ValueError, match="tbptt"):
        next(dataset(tagged([3, 4]), regime="stateful").batches("train", 2, tbptt=0))


def test_empty_split_gives_no_batches():
    for regime in ("windows", "stateful"):
        assert list(dataset(tagged([3]), regime=regime).batches("val", 2)) == []


def test_unknown_split_task_regime_errors():
    with pytest.raises(ValueError, match="valid choices"):
        dataset(tagged([3])).split("dev")
    with pytest.raises(ValueError, match="valid choices"):
        dataset(tagged([3]), task="translate")
    with pytest.raises(ValueError, match="valid choices"):
        dataset(tagged([3]), regime="online")


def test_stateful_skips_sequences_without_a_pair():
    # A one-step sequence has no input/target pair: it must not occupy a row or flag a reset
    # (placed last in the longest row, it once indexed one chunk past the end).
    x, mask, reset = check_stateful([5, 1], batch_size=1, tbptt=4)
    assert x.tolist() == [[0, 1, 2, 3]] and reset.tolist() == [[True]]
    check_stateful(
        [1, 6, 1, 3, 1], batch_size=2, tbptt=2, shuffle=True, generator=torch.Generator()
    )
    assert list(dataset(tagged([1, 1]), regime="stateful").batches("train", 2)) == []


def test_shuffle_without_generator_errors():
    for regime in ("windows", "stateful"):
        with pytest.raises(ValueError, match="Generator"):
            next(dataset(tagged([3, 4]), regime=regime).batches("train", 2, shuffle=True))


def test_normalize_uses_train_statistics_only():
    train, other = tagged([3, 4], channels=2), tagged([2], channels=2)
    raw_train, raw_other = train.values.clone(), other.values.clone()
    mean, std = normalize(train, other)
    assert torch.allclose(mean, raw_train.mean(0)) and torch.allclose(std, raw_train.std(0))
    assert torch.allclose(other.values, (raw_other - raw_train.mean(0)) / raw_train.std(0))
    constant = Split(torch.ones(4, 1), torch.tensor([4]))
    assert normalize(constant)[1].tolist() == [
        1.0
    ]  # a constant channel is centred, not divided by 0


def test_normalize_with_empty_split():
    train = tagged([3, 4], channels=2)
    empty = Split(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    normalize(train, empty)
    assert empty.values.shape == (0, 2)
