"""One epoch of a run, in one place: the training pass, the clean/val/test evaluation and the row
of metrics it adds to ``metrics.jsonl`` (:func:`fit_epoch`), built on the pass every run uses
(:func:`run_epoch`), short enough to read at once.

``windows`` batches start every row from the strategy's initial state (``hx=None``). ``stateful``
batches carry the previous chunk's final state, detached, and restart only the rows flagged in
``Batch.reset`` (:func:`initstate.reset_rows`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from initstate import InitialState, reset_rows

from .data.base import Batch, SequenceDataset, Split
from .model import SequenceModel, accuracy, per_step_loss
from .records import state_key

# Checked in replication.schema.validate (the one place a bad name is reported).
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
EVAL_CHUNK = 1000  # time steps per evaluation call in the stateful regime


@dataclass
class EpochStats:
    """Sums over one pass; ``profile_*`` are ``(max_position,)`` loss sums/counts per step index."""

    loss_sum: float = 0.0
    count: int = 0
    correct: float = 0.0
    finite: bool = True
    profile_sum: Tensor | None = None
    profile_count: Tensor | None = None

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1) if self.finite else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.count, 1)

    def early(self, k: int) -> float | None:
        """Mean loss over the first ``k`` steps after each sequence start (None without a profile)."""
        if self.profile_sum is None or int(self.profile_count[:k].sum()) == 0 or not self.finite:
            return None
        return float(self.profile_sum[:k].sum() / self.profile_count[:k].sum())

    def profile(self) -> list[float | None]:
        """Mean loss at step ``t`` of a sequence, ``None`` where no sequence reaches ``t``."""
        if self.profile_sum is None:
            return []
        mean = self.profile_sum / self.profile_count.clamp_min(1)
        return [m if c > 0 else None for m, c in zip(mean.tolist(), self.profile_count.tolist())]

    def counts(self) -> list[int]:
        """Steps behind each profile entry: at ``t = 0``, the number of sequence starts."""
        return [] if self.profile_sum is None else [int(c) for c in self.profile_count.tolist()]


def initial_state(model: SequenceModel, batch: Batch):
    """The strategy's state for every row of a truncated-BPTT chunk; a data-conditioned strategy
    (``encoder``) reads the chunk's first steps, where a restarting row's sequence begins."""
    if model.rnn.init_state.needs_input:
        return model.rnn.initial_state(input=model.encoder(batch.inputs), lengths=batch.lengths)
    return model.rnn.initial_state(batch.reset.numel())


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``name`` is one of :data:`OPTIMIZERS`."""
    return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)


def run_epoch(
    model: SequenceModel,
    data: SequenceDataset,
    split: str,
    batch_size: int,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    tbptt: int = 50,
    grad_clip: float = 0.0,
    max_position: int = 0,
    skip: int = 0,
    device: torch.device | str = "cpu",
) -> EpochStats:
    """Train on ``split`` when ``optimizer`` is given (shuffled with ``generator``), else evaluate.

    Returns the mean loss per real step (per sequence for classify), the accuracy for classify,
    and, when ``max_position > 0``, the loss profile over the first ``max_position`` steps of each
    sequence. Training stops at the first non-finite loss (``finite=False``).

    ``skip`` (warm-up): the loss and its mean leave out the first ``skip`` steps after every
    sequence start (``positions < skip``); the position profile still covers them. A classify
    loss sits at the end of the sequence and is unaffected.
    """
    training = optimizer is not None
    model.train(training)
    stats = EpochStats()
    if max_position > 0 and data.task != "classify":
        stats.profile_sum = torch.zeros(max_position, dtype=torch.float64)
        stats.profile_count = torch.zeros(max_position, dtype=torch.long)
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.float64)
    state = None
    with torch.set_grad_enabled(training):
        for batch in data.batches(split, batch_size, shuffle=training, generator=generator, tbptt=tbptt):
            batch = batch.to(device)
            hx = None
            if data.regime == "stateful":
                hx = reset_rows(state, initial_state(model, batch), batch.reset)
            out, state = model(batch.inputs, hx, batch.lengths)
            losses = per_step_loss(data.task, out, batch.targets)
            if data.task == "classify":
                n = losses.numel()
                loss = losses.mean()
                correct += accuracy(out, batch.targets).sum().double()
            else:
                mask = batch.mask
                scored = mask & (batch.positions >= skip) if skip > 0 else mask
                n = int(scored.sum())
                if stats.profile_sum is not None:
                    pos, keep = batch.positions[mask], losses.detach()[mask].double()
                    inside = pos < max_position
                    stats.profile_sum += torch.bincount(pos[inside], keep[inside], max_position).cpu()
                    stats.profile_count += torch.bincount(pos[inside], minlength=max_position).cpu()
                if n == 0:
                    continue
                loss = (losses * scored).sum() / n
            if training:
                if not torch.isfinite(loss):
                    stats.finite = False
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
            loss_sum += loss.detach().double() * n
            stats.count += n
    stats.loss_sum = float(loss_sum)
    stats.correct = float(correct)
    if not math.isfinite(stats.loss_sum):
        stats.finite = False
    return stats


@dataclass
class Loop:
    """What every epoch of one run reads: the model, its optimizer, the data and the trainer options.

    ``clean_split``: the fixed subset of train scored with the noise off (protocol v2).
    ``settings``: the run's ``trainer`` config (:class:`replication.schema.TrainerConfig`).
    """

    model: SequenceModel
    optimizer: torch.optim.Optimizer
    data: SequenceDataset
    clean_split: Split
    seed: int
    settings: object
    device: torch.device


@dataclass
class EpochResult:
    """One epoch's outcome. ``row``: its ``metrics.jsonl`` line; ``best``: the summary's
    ``*_at_best`` entries when validation improved, else None; ``failure``: ``"training"`` or
    ``"evaluation"`` when a loss was not finite (then ``row`` is None); ``seconds``: its time."""

    row: dict | None
    best: dict | None = None
    failure: str | None = None
    seconds: float = 0.0


def fit_epoch(loop: Loop, epoch: int, best_val_loss: float | None, elapsed: float) -> EpochResult:
    """Train one epoch, then score it: clean train subset, val and test; the best-epoch entries when
    val improved on ``best_val_loss`` (None: no epoch yet). ``elapsed``: the run's seconds before this epoch."""
    m, data, t = loop.model, loop.data, loop.settings
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(loop.seed * 100_003 + epoch)  # data order: seed only
    tr = run_epoch(m, data, "train", int(t.batch_size), optimizer=loop.optimizer, generator=gen,
                   grad_clip=float(t.grad_clip), skip=int(t.warmup), tbptt=int(t.tbptt), device=loop.device)
    if not tr.finite:
        return EpochResult(None, failure="training")
    k = int(t.early_k)
    # Evaluation carries the state through whole sequences anyway (no backward pass), so long
    # chunks give the same losses as tbptt-sized ones in far fewer Python steps.
    ev = dict(batch_size=int(t.eval_batch_size), max_position=max(int(t.max_position), k), device=loop.device,
              tbptt=max(int(t.tbptt), EVAL_CHUNK), skip=max(int(t.warmup), int(t.score_from)))
    # The clean pass draws no noise (eval mode), so the global RNG is untouched by it.
    cl = run_epoch(m, data, loop.clean_split, **ev)
    va = run_epoch(m, data, "val", **ev)
    improved = best_val_loss is None or va.loss < best_val_loss
    # Test is scored every epoch: protocol v3's pairing-robust endpoint scores every strategy of a
    # seed at one epoch chosen from zero's runs alone. Evaluation is deterministic and draws no
    # noise, so every other number is the same as when test was scored at improving epochs only.
    te = run_epoch(m, data, "test", **ev)
    if not (cl.finite and va.finite and (te is None or te.finite)):
        return EpochResult(None, failure="evaluation")
    seconds = time.perf_counter() - t0
    row = {"epoch": epoch, "train_loss": tr.loss, "train_loss_clean": cl.loss, "val_loss": va.loss,
           "gap": va.loss - cl.loss, "wall_time": elapsed + seconds, **state_metrics(m.rnn.init_state)}
    classify = data.task == "classify"
    if classify:
        row.update(train_acc=tr.accuracy, train_acc_clean=cl.accuracy, val_acc=va.accuracy)
    else:
        row.update(val_early=va.early(k))
    if te is not None:
        row.update(test_loss=te.loss, **({"test_acc": te.accuracy} if classify else {"test_early": te.early(k)}))
    if not improved:
        return EpochResult(row, seconds=seconds)
    best = {"best_epoch": epoch, "best_val_loss": va.loss, "test_at_best": te.loss, "train_at_best": tr.loss,
            "train_clean_at_best": cl.loss, "gap_at_best": va.loss - cl.loss, "val_early_at_best": row.get("val_early"),
            "test_early_at_best": row.get("test_early"), "position_profile": va.profile()[: int(t.max_position)],
            # v3: the early window follows the effect's persistence, read on validation and scored on
            # test, weighted by the steps behind each position; position 0's count is the starts.
            "test_position_profile": te.profile()[: int(t.max_position)],
            "position_counts": {"val": va.counts()[: int(t.max_position)], "test": te.counts()[: int(t.max_position)]}}
    if classify:
        best.update(val_acc_at_best=va.accuracy, test_acc_at_best=te.accuracy)
    return EpochResult(row, best, seconds=seconds)


def state_metrics(strategy: InitialState) -> dict[str, float]:
    """The strategy's row entries: the norm of each parameter, then each of its
    :meth:`~initstate.InitialState.diagnostics` per component (``adaptive``: σ and its error EMA)."""
    out = {state_key(name, "norm"): p.detach().norm().item() for name, p in strategy.named_parameters()}
    for quantity, values in strategy.diagnostics().items():
        out.update({state_key(name, quantity): v for name, v in zip(strategy.names, values.tolist())})
    return out


@torch.no_grad()
def state_rms(model: SequenceModel, data: SequenceDataset, split: str, batch_size: int, *,
              tbptt: int = EVAL_CHUNK, device: torch.device | str = "cpu") -> dict[str, float]:
    """Root-mean-square of each state component over every real step of ``split``, noise off.

    The typical size of the state the initial state has to match: the noise study (Q5) reports σ
    also as a fraction of it. Steps one time step at a time, since ``nn.LSTM`` exposes ``c`` only
    at the end of a call; every layer and direction counts, padded steps do not.

    Returns:
        ``{"h": rms}`` for GRU/RNN, ``{"h": rms, "c": rms}`` for LSTM (over ``(D*layers, B, H)``).
    """
    model.eval()
    sq = torch.zeros(2, dtype=torch.float64)
    n = torch.zeros(2, dtype=torch.float64)
    state = None
    for batch in data.batches(split, batch_size, shuffle=False, tbptt=tbptt):
        batch = batch.to(device)
        x = model.encoder(batch.inputs)
        hx = None
        if data.regime == "stateful":
            hx = reset_rows(state, initial_state(model, batch), batch.reset)
        elif model.rnn.init_state.needs_input:  # stepping one step at a time: give it the whole input
            hx = model.rnn.initial_state(input=x, lengths=batch.lengths)
        for t in range(x.size(1)):
            _, hx = model.rnn(x[:, t : t + 1], hx)
            keep = batch.mask[:, t]
            if not bool(keep.any()):
                continue
            for i, s in enumerate(hx if isinstance(hx, tuple) else (hx,)):
                v = s[:, keep].double()
                sq[i] += v.pow(2).sum().cpu()
                n[i] += v.numel()
        state = hx
    names = ("h", "c") if isinstance(state, tuple) else ("h",)
    return {name: float((sq[i] / n[i]).sqrt()) if n[i] > 0 else math.nan for i, name in enumerate(names)}
