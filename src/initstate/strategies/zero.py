"""``zero``: the PyTorch default, zeros in training and evaluation."""

from __future__ import annotations

from collections.abc import Sequence

from .base import InitialState, register


@register("zero")
class Zero(InitialState):
    """All components zero. Returns ``None`` entries so torch.nn builds the zeros itself (no cost).

    Takes no ``mask``: every component is zero already, so an ``init_mask`` has no effect (and
    warns, see :func:`~initstate.strategies.build_strategy`).
    """

    def __init__(self, shapes: Sequence[Sequence[int]], batch_dim: int, names: Sequence[str] | None = None) -> None:
        super().__init__(shapes, batch_dim, names)
