"""The dataset interface: variable-length sequences, a task, a regime, and tensor batching.

A dataset module under ``replication.data`` exposes ``load(**options) -> SequenceDataset`` and has a
``conf/data/<name>.yaml`` whose ``_target_`` points at it. Data stay tensors in memory; batching
is vectorised, with no per-sample Python in the training loop.

Tasks:
    ``lm``        next-token cross-entropy; a sequence of ``L`` int64 tokens gives ``L - 1``
                  input/target pairs (``x[:-1]`` predicts ``x[1:]``).
    ``forecast``  next-step regression (MSE) on ``C`` real channels, normalised with train
                  statistics only; ``L - 1`` pairs per sequence as for ``lm``.
    ``classify``  one int64 label per sequence; the whole sequence is the input.

Regimes:
    ``windows``   every sequence is independent and starts from the initial state (many resets).
    ``stateful``  few long sequences read in truncated-BPTT chunks of ``tbptt`` steps; rows carry
                  their state from chunk to chunk and ``Batch.reset`` flags the rows whose sequence
                  begins in this chunk (sequences are padded to whole chunks, so a sequence always
                  begins at a chunk boundary).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

TASKS = ("lm", "forecast", "classify")
REGIMES = ("windows", "stateful")


def cache_dir(sub: str = "") -> Path:
    """Where slow-to-build data live: ``$INITSTATE_CACHE`` or ``~/.cache/initstate``."""
    root = Path(os.environ.get("INITSTATE_CACHE", Path.home() / ".cache" / "initstate"))
    path = root / sub if sub else root
    path.mkdir(parents=True, exist_ok=True)
    return path


def require(module: str, dataset: str, extra: str = "data"):
    """Import an optional dependency or fail with one line naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"dataset {dataset!r} needs the package {module!r}: pip install 'initstate[{extra}]'"
            " (or run `make setup`)"
        ) from e


def cached_raw(name: str, version: int, build, enabled: bool = True) -> tuple[dict, Path | None, bool]:
    """``build()``'s dict, kept in ``cache_dir(name)/raw-v<version>.pt`` so that later loads skip
    the slow optional packages entirely.

    Returns ``(raw, path, from_cache)``. An unreadable or outdated file is rebuilt, not an error;
    the write is atomic because concurrent sweep workers may all build it at once.
    """
    from ..io import atomic_torch_save

    path = cache_dir(name) / f"raw-v{version}.pt" if enabled else None
    if path is not None and path.exists():
        try:
            raw = torch.load(path, weights_only=True)
            if raw.get("version") == version:
                return raw, path, True
        except Exception:  # unreadable cache: rebuild it below rather than fail the run
            pass
    raw = build()
    if path is not None:
        atomic_torch_save(path, raw)
    return raw, path, False


@dataclass
class Split:
    """Variable-length sequences stored flat.

    Attributes:
        values: ``(N, C)`` float32 (forecast/classify) or ``(N,)`` int64 tokens (lm), the
            sequences concatenated, ``N = lengths.sum()``.
        lengths: ``(S,)`` int64, the length of each sequence.
        labels: ``(S,)`` int64 class labels (classify) or ``None``.
    """

    values: Tensor
    lengths: Tensor
    labels: Tensor | None = None

    def __post_init__(self) -> None:
        self.lengths = torch.as_tensor(self.lengths, dtype=torch.long)
        if int(self.lengths.sum()) != self.values.shape[0]:
            raise ValueError(
                f"lengths sum to {int(self.lengths.sum())} but values has {self.values.shape[0]} steps"
            )
        if self.labels is not None and len(self.labels) != len(self.lengths):
            raise ValueError(f"{len(self.labels)} labels for {len(self.lengths)} sequences")

    @classmethod
    def from_sequences(cls, seqs: Sequence[Tensor], labels: Sequence[int] | Tensor | None = None) -> Split:
        """Build from a list of ``(L_i, C)`` or ``(L_i,)`` tensors."""
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        values = torch.cat(list(seqs)) if len(seqs) else torch.empty(0)
        lab = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
        return cls(values, lengths, lab)

    @property
    def offsets(self) -> Tensor:
        """``(S,)`` start of each sequence in ``values``."""
        return torch.cumsum(self.lengths, 0) - self.lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> Tensor:
        start = int(self.offsets[i])
        return self.values[start : start + int(self.lengths[i])]

    def sequences(self) -> list[Tensor]:
        return list(torch.split(self.values, self.lengths.tolist()))

    def with_bos(self, bos_id: int) -> Split:
        """Every token sequence with ``bos_id`` prepended: ``(N,)`` -> ``(N + S,)``, each length
        + 1, labels kept. Position ``t`` of the result is position ``t − 1`` of the original, so a
        run that scores from position 1 (``trainer.warmup = trainer.score_from = 1``) predicts
        exactly the original targets, each from the same preceding tokens plus the BOS."""
        if self.values.dim() != 1 or self.values.dtype != torch.long:
            raise ValueError("a BOS token is prepended to token sequences (lm) only")
        bos = torch.full((len(self),), int(bos_id), dtype=torch.long)
        seqs = [torch.cat([b[None], s]) for b, s in zip(bos, self.sequences())]
        return Split(torch.cat(seqs) if seqs else self.values, self.lengths + 1, self.labels)

    @property
    def total_steps(self) -> int:
        return int(self.lengths.sum())


@dataclass
class Batch:
    """One batch of ``B`` rows and ``T`` steps.

    Attributes:
        inputs: ``(B, T)`` int64 tokens (lm) or ``(B, T, C)`` float32.
        targets: ``(B, T)`` int64 (lm), ``(B, T, C)`` float32 (forecast) or ``(B,)`` int64 (classify).
        mask: ``(B, T)`` bool, the positions that hold real data.
        reset: ``(B,)`` bool, rows that begin a sequence here (all ``True`` in ``windows``).
        positions: ``(B, T)`` int64, each step's index within its own sequence.
        lengths: ``(B,)`` int64, valid steps per row (the ``mask`` row sums).
    """

    inputs: Tensor
    targets: Tensor
    mask: Tensor
    reset: Tensor
    positions: Tensor
    lengths: Tensor

    def to(self, device) -> Batch:
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


@dataclass
class SequenceDataset:
    """Train/val/test splits plus what the model needs to know about them.

    Attributes:
        name: the Hydra choice name, e.g. ``"shakespeare_windows"``.
        task: one of :data:`TASKS`; regime: one of :data:`REGIMES`.
        vocab_size: number of token ids (lm), else ``None``.
        num_channels: ``C`` of real-valued inputs (forecast/classify); 0 for lm.
        num_classes: number of labels (classify), else ``None``.
        norm_mean, norm_std: ``(C,)`` train-split statistics already applied (forecast), else ``None``.
        info: free-form metadata (source, sizes, options) recorded with every run.
    """

    name: str
    task: str
    regime: str
    train: Split
    val: Split
    test: Split
    vocab_size: int | None = None
    num_channels: int = 0
    num_classes: int | None = None
    norm_mean: Tensor | None = None
    norm_std: Tensor | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; valid choices: {', '.join(TASKS)}")
        if self.regime not in REGIMES:
            raise ValueError(f"unknown regime {self.regime!r}; valid choices: {', '.join(REGIMES)}")
        if self.task == "classify" and self.regime != "windows":
            raise ValueError("task 'classify' needs regime 'windows' (one label per sequence)")
        if self.task == "classify" and any(len(sp) and sp.labels is None for sp in (self.train, self.val, self.test)):
            raise ValueError(f"dataset {self.name!r}: task 'classify' needs labels in every non-empty split")

    def split(self, name: str | Split) -> Split:
        """The split called ``name``; a :class:`Split` passes through (e.g. a subset of train)."""
        if isinstance(name, Split):
            return name
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; valid choices: train, val, test")
        return getattr(self, name)

    def subset(self, name: str, min_steps: int, seed: int = 0) -> Split:
        """A fixed random subset of whole sequences of split ``name`` holding at least
        ``min_steps`` time steps (the whole split if it has fewer), in their original order.
        The same ``seed`` gives the same subset for every run, so paired runs share it."""
        data = self.split(name)
        if data.total_steps <= min_steps:
            return data
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
        enough = int(torch.searchsorted(torch.cumsum(data.lengths[order], 0), min_steps)) + 1
        idx = order[:enough].sort().values.tolist()
        labels = None if data.labels is None else data.labels[idx]
        return Split.from_sequences([data[i] for i in idx], labels)

    def fingerprint(self) -> str:
        """A content hash of the data every run sees (all splits, task, regime, vocabulary), so a
        run's identity changes when a file behind the same config is rewritten."""
        h = hashlib.sha256(f"{self.task}|{self.regime}|{self.vocab_size}|{self.num_classes}".encode())
        for name in ("train", "val", "test"):
            sp = self.split(name)
            for t in (sp.values, sp.lengths, sp.labels):
                if t is not None:
                    h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
                    h.update(t.detach().contiguous().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def sizes(self) -> dict:
        """Number of sequences and time steps per split (for logs and the closing report)."""
        return {
            s: {"sequences": len(self.split(s)), "steps": self.split(s).total_steps}
            for s in ("train", "val", "test")
        }

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        tbptt: int = 50,
    ) -> Iterator[Batch]:
        """Iterate over one epoch of ``split``.

        ``windows``: sequences in (optionally shuffled) order, ``batch_size`` at a time, padded to
        the longest in the batch. ``stateful``: sequences packed into at most ``batch_size``
        rows, read ``tbptt`` steps at a time; consecutive batches continue the same rows. With more
        sequences than ``batch_size`` some rows hold several, so an epoch has more (and partly
        empty) chunks: choose ``batch_size`` >= the number of sequences for a fair step count.
        Shuffling uses only ``generator``, so the data order never depends on the global RNG
        (and hence not on how much noise a strategy drew).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if shuffle and generator is None:
            raise ValueError("shuffle=True needs a torch.Generator, so the order never depends on the global RNG")
        data = self.split(split)
        if self.regime == "windows":
            yield from _window_batches(data, self.task, batch_size, shuffle, generator)
        else:
            if tbptt < 1:
                raise ValueError(f"tbptt must be >= 1, got {tbptt}")
            yield from _stateful_batches(data, self.task, batch_size, tbptt, shuffle, generator)


def _pairs(values: Tensor, lengths: Tensor, task: str):
    """Inputs/targets flattened: for lm/forecast drop each sequence's last input and first target."""
    if task == "classify":
        return values, None, lengths
    ends = torch.cumsum(lengths, 0)
    starts = ends - lengths
    keep_in = torch.ones(len(values), dtype=torch.bool)
    keep_out = torch.ones(len(values), dtype=torch.bool)
    keep_in[ends[lengths > 0] - 1] = False
    keep_out[starts[lengths > 0]] = False
    return values[keep_in], values[keep_out], (lengths - 1).clamp_min(0)


def _scatter_rows(flat: Tensor, lengths: Tensor, width: int, fill) -> Tensor:
    """``(N, ...)`` concatenated rows → ``(R, width, ...)`` padded with ``fill``."""
    rows = len(lengths)
    out = torch.full((rows, width, *flat.shape[1:]), fill, dtype=flat.dtype)
    pos = torch.arange(width).expand(rows, width)
    mask = pos < lengths[:, None]
    out[mask] = flat
    return out


def _padded(data: Split, task: str) -> tuple[Tensor, Tensor | None, Tensor]:
    """The split's input/target pairs padded once to ``(S, L_max, ...)``, cached on the split, so
    an epoch only indexes rows (no per-batch gathering). Returns ``(inputs, targets, lengths)``."""
    cached = getattr(data, "_padded_cache", None)
    if cached is not None and cached[0] == task and cached[1] is data.values and cached[2] is data.lengths:
        return cached[3]
    x, y, plen = _pairs(data.values, data.lengths, task)
    width = max(int(plen.max()) if len(plen) else 1, 1)
    out = (_scatter_rows(x, plen, width, 0), None if y is None else _scatter_rows(y, plen, width, 0), plen)
    data._padded_cache = (task, data.values, data.lengths, out)  # holds values: `is` stays valid
    return out


def _window_batches(data: Split, task, batch_size, shuffle, generator) -> Iterator[Batch]:
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    xs, ys, plens = _padded(data, task)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        plen = plens[idx]
        width = max(int(plen.max()), 1)  # pad to the longest in the batch only
        pos = torch.arange(width).expand(len(idx), width)
        yield Batch(
            inputs=xs[idx, :width],
            targets=data.labels[idx] if task == "classify" else ys[idx, :width],
            mask=pos < plen[:, None],
            reset=torch.ones(len(idx), dtype=torch.bool),
            positions=pos.clone(),
            lengths=plen,
        )


def _stateful_batches(data: Split, task, batch_size, tbptt, shuffle, generator) -> Iterator[Batch]:
    n = len(data)
    if n == 0:
        return
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    x, y, plen = _pairs(data.values, data.lengths, task)
    order = order[plen[order] > 0]  # a one-step sequence has no input/target pair
    if len(order) == 0:
        return
    n = len(order)
    padded = ((plen + tbptt - 1) // tbptt) * tbptt  # each sequence fills whole chunks
    rows = min(batch_size, n)
    # Greedy packing: the next sequence goes to the row with the least data so far.
    row_len = [0] * rows
    row_seqs: list[list[int]] = [[] for _ in range(rows)]
    for s in order.tolist():
        r = min(range(rows), key=row_len.__getitem__)
        row_seqs[r].append(s)
        row_len[r] += int(padded[s])
    width = max(max(row_len), tbptt)
    xs = torch.zeros((rows, width, *x.shape[1:]), dtype=x.dtype)
    ys = torch.zeros((rows, width, *y.shape[1:]), dtype=y.dtype)
    mask = torch.zeros(rows, width, dtype=torch.bool)
    pos = torch.zeros(rows, width, dtype=torch.long)
    reset = torch.zeros(rows, width // tbptt, dtype=torch.bool)
    starts = torch.cumsum(plen, 0) - plen
    for r, seqs in enumerate(row_seqs):
        t = 0
        for s in seqs:
            a, L = int(starts[s]), int(plen[s])
            xs[r, t : t + L] = x[a : a + L]
            ys[r, t : t + L] = y[a : a + L]
            mask[r, t : t + L] = True
            pos[r, t : t + L] = torch.arange(L)
            reset[r, t // tbptt] = True
            t += int(padded[s])
    for c in range(width // tbptt):
        sl = slice(c * tbptt, (c + 1) * tbptt)
        m = mask[:, sl]
        yield Batch(xs[:, sl], ys[:, sl], m, reset[:, c].clone(), pos[:, sl], m.sum(1))


def normalize(train: Split, *others: Split) -> tuple[Tensor, Tensor]:
    """Standardise every split in place with the train split's per-channel mean and std.

    Returns:
        ``(mean, std)``, each ``(C,)``, computed on ``train`` only (no leakage).
    """
    vals = train.values.reshape(train.values.shape[0], -1)
    mean = vals.mean(0)
    # Unbiased (ddof=1) std; a constant channel or a single step would give 0/NaN, so use 1 there.
    std = vals.std(0).nan_to_num(1.0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    for s in (train, *others):
        s.values = ((s.values.reshape(s.values.shape[0], mean.numel()) - mean) / std).reshape(s.values.shape)
    return mean, std
