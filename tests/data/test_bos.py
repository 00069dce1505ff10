"""A beginning-of-sequence token (the length study's BOS arm): prepending it and scoring from step 1
scores exactly the targets of the plain windows, each from the same tokens plus the BOS. Checked on
a hand-built example through the real batching, and on the word-level loader."""

import pytest
import torch

from replication.data.base import SequenceDataset, Split

BOS = 9
WINDOWS = [[3, 4, 5, 6], [7, 8, 1, 2], [5, 5, 6, 7]]  # three windows of 4 tokens: 3 pairs each


def _dataset(split: Split) -> SequenceDataset:
    return SequenceDataset(name="toy", task="lm", regime="windows", vocab_size=10, train=split, val=split, test=split)


def _scored(ds: SequenceDataset, skip: int) -> list[tuple[tuple[int, ...], int]]:
    """(context read so far, target) of every scored step, in order: what the loss sees."""
    out = []
    for b in ds.batches("val", 2):
        for r in range(b.inputs.shape[0]):
            for t in range(b.inputs.shape[1]):
                if b.mask[r, t] and b.positions[r, t] >= skip:
                    out.append((tuple(b.inputs[r, : t + 1].tolist()), int(b.targets[r, t])))
    return out


def test_with_bos_by_hand():
    s = Split.from_sequences([torch.tensor(w) for w in WINDOWS]).with_bos(BOS)
    assert s.values.tolist() == [9, 3, 4, 5, 6, 9, 7, 8, 1, 2, 9, 5, 5, 6, 7]
    assert s.lengths.tolist() == [5, 5, 5]


def test_scoring_from_step_1_scores_the_plain_targets_and_nothing_else():
    plain = _dataset(Split.from_sequences([torch.tensor(w) for w in WINDOWS]))
    bos = _dataset(Split.from_sequences([torch.tensor(w) for w in WINDOWS]).with_bos(BOS))
    want = [((3,), 4), ((3, 4), 5), ((3, 4, 5), 6), ((7,), 8), ((7, 8), 1), ((7, 8, 1), 2),
            ((5,), 5), ((5, 5), 6), ((5, 5, 6), 7)]
    assert _scored(plain, 0) == want
    # the BOS arm: the same targets, each context led by the BOS; the BOS -> first-token pair
    # (position 0) is the one step left out
    assert _scored(bos, 1) == [((BOS, *c), y) for c, y in want]
    assert [y for _, y in _scored(bos, 0)] == [3, 4, 5, 6, 7, 8, 1, 2, 5, 5, 6, 7]


def test_bos_is_for_token_sequences_only():
    with pytest.raises(ValueError, match="token sequences"):
        Split.from_sequences([torch.randn(3, 2)]).with_bos(0)
