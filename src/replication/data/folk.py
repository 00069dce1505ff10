"""Essen folk melodies (music21 corpus): many short symbolic sequences, next-token LM, ``windows``.

Source: the 31 ``essenFolksong/*.abc`` collections shipped with ``music21`` (8,514 tunes). Each
tune is one independent sequence (one :class:`~replication.data.base.Split` item), read from the
initial state; tunes are split into train/val/test by tune, under ``seed``.

Events. A tune becomes a list of ``(pitch, quarterLength)`` events: ``pitch`` is the MIDI number,
or ``-1`` for a rest. Tied notes are merged into one event (the sounding note) and consecutive
rests into one rest, so the events do not depend on how a parser cuts notes at barlines; grace
notes (zero length; none occur in Essen) are dropped.

Tokens. One token per event, combining the pitch (or rest) with the duration snapped to the
nearest of :data:`DUR_BINS` (quarterLengths, nearest in log scale; Essen durations are all
multiples of 1/8; all but 85 of the 466,794 events fall exactly on a bin). The vocabulary is
the set of ``(pitch, duration bin)`` pairs seen in the *train* split, sorted, with id 0 =
``<unk>`` for pairs seen only in val/test. ``info["tokens"]`` names every id (``"67/1.5"`` =
MIDI 67 for 1.5 quarters, ``"rest/2"``).
There is deliberately **no** start-of-tune (BOS) token and no end token: the study is about what
the initial hidden state does at the start of a sequence, so the first input is the first note.

Subset. ``max_tunes`` tunes are taken from a permutation of the whole corpus index drawn with
``seed``: the tunes chosen for ``n`` are a prefix of those chosen for ``m > n`` under the same
seed (so a smaller subset parses nothing new), though the split boundaries move with the size:
val, test, then train, in permutation order. Tunes with fewer than 2 events (no input/target
pair) and, with ``dedupe``, exact duplicates of an already chosen tune (94 in the corpus: repeats
across collections, e.g. ``lot`` of ``dva0``, and the ``test*.abc`` collections) are skipped and
replaced by the next tunes of the permutation, so that no melody can sit in two splits.

Cache (``cache_dir("folk")/essen_v<CACHE_VERSION>.pt``, written atomically): the corpus index
(every tune's key ``"<file stem>/<position in file>"``) and the parsed events of every tune parsed
so far, stored flat. It is incremental: a load parses only the chosen tunes that are not cached
yet and adds them; a load whose tunes are all cached neither imports nor parses music21 (nor
needs it installed). The cache is rebuilt when the installed music21 version differs from the
one that wrote it. Parsing uses music21's ABC tokenizer (``abcFormat.ABCHandler``) and reads
pitch and duration from its note tokens without building music21 streams: about 10x faster than
``converter.parse`` and identical events on all 8,514 tunes (checked once against
``converter.parse(..., format="abc")`` with the same tie/rest merging).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from torch import Tensor

from replication.io import atomic_torch_save

from .base import SequenceDataset, Split, cache_dir, require

log = logging.getLogger(__name__)

CACHE_VERSION = 1
REST = -1
# Duration bins in quarterLengths (1/8 = a 32nd note ... 16 = four whole notes).
DUR_BINS = (
    0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0,
    2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0,
)  # fmt: skip
# Parsing more than this many tunes at once is worth starting worker processes for.
PARSE_WORKERS = 2
_POOL_MIN_TUNES = 1500

Events = tuple[list[int], list[float]]  # (pitches, quarterLengths) of one tune


def load(
    *,
    max_tunes: int | None = 1000,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    dedupe: bool = True,
) -> SequenceDataset:
    """Essen tunes as next-token LM sequences, one independent sequence per tune.

    Args:
        max_tunes: number of tunes to use (``None``: the whole corpus).
        val_fraction, test_fraction: share of the chosen tunes in val/test (rounded, at least 1).
        seed: chooses the subset and the split; the data never touch the global RNG.
        dedupe: skip tunes whose events exactly repeat an already chosen tune.

    Returns:
        ``SequenceDataset(name="folk", task="lm", regime="windows")``; each split's ``values`` is
        ``(N,)`` int64 token ids in ``[0, vocab_size)``, ``lengths`` ``(S,)`` events per tune.
    """
    options = dict(max_tunes=max_tunes, val_fraction=val_fraction, test_fraction=test_fraction)
    options.update(seed=seed, dedupe=dedupe)
    parts, tunes, meta = select(**options)
    codes = {s: [_codes(*tunes[k]) for k in keys] for s, keys in parts.items()}
    vocab = torch.unique(torch.cat(codes["train"]))  # sorted pair codes seen in train
    splits = {s: Split.from_sequences([_to_ids(c, vocab) for c in cs]) for s, cs in codes.items()}

    unk = {s: float((splits[s].values == 0).float().mean()) for s in ("val", "test")}
    info = {
        "source": "music21 corpus essenFolksong (.abc), Essen Folksong Collection",
        "tokenisation": "one token per note/rest: (MIDI pitch or rest, duration bin); no BOS token",
        "duration_bins": list(DUR_BINS),
        "options": options,
        "tunes": {s: len(v) for s, v in parts.items()},
        **meta,
        "unk_rate": unk,
        "tokens": ["<unk>"] + [_code_name(int(c)) for c in vocab],
    }
    log.info(
        "folk: tunes %s, vocab %d, parsed %d now", info["tunes"], len(vocab) + 1, meta["parsed_now"]
    )
    return SequenceDataset(
        name="folk",
        task="lm",
        regime="windows",
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        vocab_size=len(vocab) + 1,
        info=info,
    )


def select(
    *,
    max_tunes: int | None = 1000,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    dedupe: bool = True,
) -> tuple[dict[str, list[str]], dict[str, tuple[Tensor, Tensor]], dict]:
    """Choose the tunes of each split, parsing (and caching) only those not cached yet.

    Returns:
        ``parts``: ``{"train"|"val"|"test": [tune key]}``; ``tunes``: ``{key: (pitch, ql)}`` with
        ``(L,)`` int16 MIDI pitches (``-1`` = rest) and ``(L,)`` float64 quarterLengths, for at
        least every chosen key; ``meta``: corpus size, skipped counts, tunes parsed now, cache path.
    """
    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(
            f"need 0 < val_fraction, test_fraction and a sum < 1: {val_fraction}, {test_fraction}"
        )
    if max_tunes is not None and max_tunes < 3:
        raise ValueError(f"max_tunes must be >= 3 (one tune per split) or None, got {max_tunes}")
    path = cache_dir("folk") / f"essen_v{CACHE_VERSION}.pt"
    cache = _read_cache(path)
    tunes: dict[str, tuple[Tensor, Tensor]] = cache["tunes"] if cache else {}
    index: list[str] = cache["index"] if cache else _corpus_index()
    if not index:
        raise RuntimeError("music21's corpus lists no essenFolksong tunes")
    want = len(index) if max_tunes is None else min(max_tunes, len(index))

    perm = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen: list[str] = []
    seen: set[bytes] = set()
    skipped = {"short": 0, "duplicate": 0}
    parsed_now = pos = 0
    # Walk the permutation; parse only what the subset needs, topping up for skipped tunes.
    while len(chosen) < want and pos < len(index):
        batch = [index[i] for i in perm[pos : pos + want - len(chosen)]]
        pos += len(batch)
        missing = [k for k in batch if k not in tunes]
        if missing:
            for k, (p, q) in _parse(missing).items():
                tunes[k] = (
                    torch.tensor(p, dtype=torch.int16),
                    torch.tensor(q, dtype=torch.float64),
                )
            parsed_now += len(missing)
        for k in batch:
            p, q = tunes[k]
            if len(p) < 2:  # no input/target pair
                skipped["short"] += 1
                continue
            sig = p.numpy().tobytes() + q.numpy().tobytes()
            if dedupe and sig in seen:
                skipped["duplicate"] += 1
                continue
            seen.add(sig)
            chosen.append(k)
    if parsed_now or cache is None:
        _write_cache(path, index, tunes)

    n = len(chosen)
    # At least one tune in val and test, so that a small subset still has every split.
    n_val, n_test = max(1, round(val_fraction * n)), max(1, round(test_fraction * n))
    if n - n_val - n_test < 1:
        raise ValueError(
            f"{n} tunes are too few for train/val/test ({val_fraction=}, {test_fraction=})"
        )
    parts = {
        "train": chosen[n_val + n_test :],
        "val": chosen[:n_val],
        "test": chosen[n_val : n_val + n_test],
    }
    meta = {
        "corpus_tunes": len(index),
        "skipped": skipped,
        "parsed_now": parsed_now,
        "cache": str(path),
    }
    return parts, tunes, meta


# --- tokens -------------------------------------------------------------------------------------


def _codes(pitch: Tensor, ql: Tensor) -> Tensor:
    """``(L,)`` int16 pitches and ``(L,)`` float64 quarterLengths → ``(L,)`` int64 pair codes.

    ``code = (pitch + 1) * len(DUR_BINS) + bin``, so a rest (``-1``) has the codes below any note
    and the sorted vocabulary lists rests first, then notes by pitch, then duration.
    """
    logbins = torch.tensor(DUR_BINS, dtype=torch.float64).log2()
    dur_bin = (ql.clamp_min(1e-9).log2()[:, None] - logbins).abs().argmin(1)
    return (pitch.long() + 1) * len(DUR_BINS) + dur_bin


def _to_ids(codes: Tensor, vocab: Tensor) -> Tensor:
    """``(L,)`` pair codes → ``(L,)`` int64 ids: 1 + position in the sorted ``vocab``, else 0."""
    pos = torch.searchsorted(vocab, codes).clamp_max(len(vocab) - 1)
    return torch.where(vocab[pos] == codes, pos + 1, torch.zeros_like(pos))


def _code_name(code: int) -> str:
    pitch, b = divmod(code, len(DUR_BINS))
    return f"{'rest' if pitch == 0 else pitch - 1}/{DUR_BINS[b]:g}"


# --- cache --------------------------------------------------------------------------------------


def _music21_version() -> str | None:
    """The installed music21 version, read from package metadata (does not import music21)."""
    try:
        return importlib.metadata.version("music21")
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_cache(path: Path) -> dict | None:
    """``{"index": [key], "tunes": {key: ((L,) int16 pitch, (L,) float64 ql)}}`` or ``None``."""
    if not path.exists():
        return None
    try:
        raw = torch.load(path, weights_only=True)
    except Exception as e:  # a cache from an incompatible torch: rebuild it rather than fail
        log.warning("folk: ignoring unreadable cache %s (%s)", path, e)
        return None
    installed = _music21_version()
    if raw.get("version") != CACHE_VERSION or (
        installed is not None and raw.get("music21") != installed
    ):
        log.info("folk: cache %s is from another version; rebuilding", path)
        return None
    lengths = raw["lengths"].tolist()
    tunes = dict(
        zip(raw["keys"], zip(torch.split(raw["pitch"], lengths), torch.split(raw["ql"], lengths)))
    )
    return {"index": list(raw["index"]), "tunes": tunes}


def _write_cache(path: Path, index: list[str], tunes: dict[str, tuple[Tensor, Tensor]]) -> None:
    """Merge with whatever another process wrote meanwhile, then replace the file atomically."""
    on_disk = _read_cache(path)
    if on_disk is not None and on_disk["index"] == index:
        tunes = {**on_disk["tunes"], **tunes}
    keys = list(tunes)
    atomic_torch_save(
        path,
        {
            "version": CACHE_VERSION,
            "music21": _music21_version(),
            "index": index,
            "keys": keys,
            "lengths": torch.tensor([len(tunes[k][0]) for k in keys], dtype=torch.long),
            "pitch": torch.cat([torch.empty(0, dtype=torch.int16)] + [tunes[k][0] for k in keys]),
            "ql": torch.cat([torch.empty(0, dtype=torch.float64)] + [tunes[k][1] for k in keys]),
        },
    )


# --- parsing (the only part that needs music21) -------------------------------------------------


def _essen_files() -> dict[str, Path]:
    """``{file stem: path}`` of the Essen ``.abc`` collections in music21's corpus."""
    corpus = require("music21.corpus", "folk")
    return {Path(p).stem: Path(p) for p in sorted(corpus.getComposer("essenFolksong"), key=str)}


def _split_tunes(text: str) -> list[str]:
    """One ``.abc`` collection → the text of each tune (from its ``X:`` line to the next)."""
    return [t for t in re.split(r"^(?=X:)", text, flags=re.M) if t.startswith("X:")]


def _read_abc(path: Path) -> str:
    return path.read_text(encoding="latin-1")  # some titles are Latin-1; notes are ASCII


def _corpus_index() -> list[str]:
    """Every tune's key ``"<file stem>/<position in file>"``, in corpus order."""
    return [
        f"{stem}/{i}"
        for stem, p in _essen_files().items()
        for i in range(len(_split_tunes(_read_abc(p))))
    ]


def _parse(keys: Sequence[str]) -> dict[str, Events]:
    """Parse the given tunes (reading each collection once), in worker processes when many."""
    by_file: dict[str, list[int]] = {}
    for k in keys:
        stem, i = k.rsplit("/", 1)
        by_file.setdefault(stem, []).append(int(i))
    files = _essen_files()
    jobs = [(str(files[stem]), stem, idx) for stem, idx in by_file.items()]
    log.info("folk: parsing %d tunes from %d collections with music21", len(keys), len(jobs))
    if len(keys) >= _POOL_MIN_TUNES and PARSE_WORKERS > 1 and len(jobs) > 1:
        # fork: the workers only run music21's pure-Python tokenizer, never torch.
        jobs.sort(key=lambda j: -len(j[2]))  # biggest first, for an even load
        with ProcessPoolExecutor(PARSE_WORKERS, mp_context=get_context("fork")) as pool:
            results = list(pool.map(_parse_file, jobs))
    else:
        results = [_parse_file(j) for j in jobs]
    return {k: ev for r in results for k, ev in r.items()}


def _parse_file(job: tuple[str, str, list[int]]) -> dict[str, Events]:
    path, stem, positions = job
    abc = require("music21.abcFormat", "folk")
    pitch_mod = require("music21.pitch", "folk")
    midi: dict[str, int] = {}
    texts = _split_tunes(_read_abc(Path(path)))
    out = {}
    for i in positions:
        try:
            out[f"{stem}/{i}"] = _tune_events(texts[i], abc, pitch_mod, midi)
        except Exception as e:  # one malformed tune must not sink the corpus: cache it as empty
            log.warning("folk: could not parse %s/%d (%s); skipping it", stem, i, e)
            out[f"{stem}/{i}"] = ([], [])
    return out


def _tune_events(text: str, abc, pitch_mod, midi: dict[str, int]) -> Events:
    """One tune's ABC text → merged ``(pitches, quarterLengths)``, as music21 would translate it.

    Mirrors ``abcFormat.translate.parseABCNote``: the token's quarterLength (broken rhythm
    applied by the handler) times the active tuplet's ratio; grace notes have length 0.
    """
    handler = abc.ABCHandler()
    handler.process(text)
    pitches: list[int] = []
    qls: list[float] = []
    tie_open = False
    for tok in handler.tokens:
        if not isinstance(tok, abc.ABCNote):
            continue
        if isinstance(tok, abc.ABCChord):  # no chords in Essen (monophonic): keep the top note
            names = [
                t.pitchName for t in tok.subTokens if isinstance(t, abc.ABCNote) and t.pitchName
            ]
            p = max((_midi(n, pitch_mod, midi) for n in names), default=REST)
        else:
            p = REST if tok.isRest else _midi(tok.pitchName, pitch_mod, midi)
        ql = float(tok.quarterLength)
        if tok.activeTuplet is not None:
            ql *= float(tok.activeTuplet.tupletMultiplier())
        if tok.inGrace or ql <= 0:
            continue
        # Merge a tied continuation and back-to-back rests: one event per sounding note or silence.
        if pitches and (
            (tie_open and pitches[-1] == p != REST) or (p == REST and pitches[-1] == REST)
        ):
            qls[-1] += ql
        else:
            pitches.append(p)
            qls.append(ql)
        tie_open = tok.tie in ("start", "continue")
    return pitches, qls


def _midi(name: str, pitch_mod, cache: dict[str, int]) -> int:
    m = cache.get(name)
    if m is None:
        m = cache[name] = int(pitch_mod.Pitch(name).midi)
    return m
