"""What a run writes, declared once: its checkpoint (:class:`RunState`), the shape of
``summary.json`` (:class:`Summary`) and the names of the strategy's metrics (:func:`state_key`).

The writer (:mod:`replication.run`) and the reader (:func:`replication.analysis.collect.read_summary`)
both use these declarations, so a field is named and typed in one place. Nothing here imports torch
at module level: the analysis reads summaries without it.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

from .io import atomic_torch_save, atomic_write_json

CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"
METRICS = "metrics.jsonl"


def state_key(component: str, quantity: str) -> str:
    """The ``metrics.jsonl`` key of one strategy quantity of one state component, e.g.
    ``state_key("h0", "noise_scale") == "state/h0_noise_scale"`` (parameters: ``"<name>_norm"``)."""
    return f"state/{component}_{quantity}"


@dataclass
class RunState:
    """Everything a checkpoint holds, and nothing else: a killed run resumes from it exactly.

    ``model``, ``optimizer`` and ``rng`` are filled by :meth:`save` (the state dicts of the live
    objects and ``torch.get_rng_state()``) and applied by :meth:`restore`; the other fields are the
    run's progress, updated after every epoch. The checkpoint file is a plain dict of these fields
    (the same keys the harness has always written, so older checkpoints still resume).
    """

    config_hash: str
    epoch: int = -1  # the last finished epoch; -1 before the first
    history: list[dict] = field(default_factory=list)  # one metrics.jsonl row per finished epoch
    best: dict = field(default_factory=dict)  # the summary's *_at_best entries (BestEpoch)
    bad_epochs: int = 0  # epochs since validation last improved (early stopping)
    elapsed: float = 0.0  # seconds of training and evaluation so far
    model: dict | None = None
    optimizer: dict | None = None
    rng: Any = None  # (N,) uint8 tensor, torch's global CPU generator

    def save(self, path: str | os.PathLike, model, optimizer) -> None:
        """Snapshot ``model``, ``optimizer`` and the global RNG into this state and write it atomically."""
        import torch

        self.model, self.optimizer, self.rng = model.state_dict(), optimizer.state_dict(), torch.get_rng_state()
        atomic_torch_save(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str | os.PathLike, map_location="cpu") -> RunState:
        """The state in a checkpoint file; raises what ``torch.load`` raises for a bad file."""
        import torch

        ck = torch.load(path, map_location=map_location, weights_only=False)
        return cls(**{f.name: ck[f.name] for f in fields(cls)})

    def restore(self, model, optimizer) -> None:
        """Put the saved weights, optimizer state and RNG back into the live objects."""
        import torch

        model.load_state_dict(self.model)
        optimizer.load_state_dict(self.optimizer)
        torch.set_rng_state(self.rng)


class BestEpoch(TypedDict, total=False):
    """The summary's entries about the epoch with the lowest validation loss (absent when no epoch
    finished). Test numbers are scored at that epoch only."""

    best_epoch: int  # 0-based
    best_val_loss: float
    test_at_best: float
    train_at_best: float  # in-training loss (noise included)
    train_clean_at_best: float  # noise off, on a fixed train subset
    gap_at_best: float  # val − clean train
    val_early_at_best: float | None  # mean loss over the first early_k steps; None for classify
    test_early_at_best: float | None
    position_profile: list[float | None]  # val loss at step t, t < max_position; [] for classify
    test_position_profile: list[float | None]  # the same on test (protocol v3; absent in older records)
    position_counts: dict[str, list[int]]  # {"val"|"test": steps behind each position}; [0] = starts
    val_acc_at_best: float  # classify only
    test_acc_at_best: float  # classify only


class Summary(BestEpoch):
    """``summary.json``: written last, so its presence with a matching ``config_hash`` marks a
    finished run. The keys below are always there (records older than protocol v2 lack some)."""

    status: Literal["finished", "early_stopped", "diverged"]
    diverged: bool
    config_hash: str  # the run key: config and data content
    data: str
    task: str  # lm | forecast | classify
    regime: str  # windows | stateful
    strategy: str
    label: str
    seed: int
    noise_std: float
    state_rms: dict[str, float]  # {"h": rms, "c": rms}; {} when diverged or no epoch finished
    epochs_run: int
    epochs_max: int
    early_k: int
    wall_time: float
    sizes: dict[str, dict[str, int]]  # {split: {"sequences": n, "steps": n}}
    final_train_loss: float | None
    final_train_loss_clean: float | None


SUMMARY_TYPES: dict[str, Any] = typing.get_type_hints(Summary)
IDENTITY = ("data", "label", "seed")  # what a reader needs to place a run at all


def write_summary(path: str | os.PathLike, summary: Summary) -> None:
    """Write ``summary`` atomically (sorted keys: the file compares byte for byte)."""
    check_summary(summary)
    atomic_write_json(path, summary)


def check_summary(s: dict) -> None:
    """Raise ``ValueError`` naming the first problem of a summary: an identity key missing, or a
    declared key holding a value of another JSON type. Undeclared and missing keys are allowed."""
    missing = [k for k in IDENTITY if s.get(k) is None]
    if missing:
        raise ValueError(f"no {', '.join(repr(k) for k in missing)} key: not a run summary")
    for key, tp in SUMMARY_TYPES.items():
        if key in s and not _json_is(s[key], tp):
            raise ValueError(f"{key!r} is {json.dumps(s[key])[:40]}, not {_type_name(tp)}")


def _json_is(value, tp) -> bool:
    """Whether a JSON value fits the annotation ``tp``; ints and floats both count as numbers."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_json_is(value, a) for a in typing.get_args(tp))
    if origin is Literal:
        return value in typing.get_args(tp)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, origin or tp)


def _type_name(tp) -> str:
    return str(tp).replace("typing.", "") if typing.get_origin(tp) else tp.__name__
