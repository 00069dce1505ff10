"""``zero``: the PyTorch default, zeros in training and evaluation."""

from __future__ import annotations

from .base import InitialState, register


@register("zero")
class Zero(InitialState):
    """All components zero. Returns ``None`` entries so torch.nn builds the zeros itself (no cost)."""
