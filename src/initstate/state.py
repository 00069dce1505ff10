"""Helpers for carrying a recurrent state across truncated-BPTT chunks."""

from __future__ import annotations

import torch
from torch import Tensor


def reset_rows(carried, initial, reset: Tensor, batch_dim: int = 1):
    """Start flagged rows from ``initial`` and carry the others, detached, from ``carried``.

    Used when long sequences are read in truncated-BPTT chunks: a row that begins a new sequence
    in this chunk takes the strategy's initial state, every other row continues from the previous
    chunk's final state, with the graph cut so gradients stop at the chunk boundary.

    Args:
        carried: the previous chunk's final state, a tensor or a tuple of tensors (e.g. ``(h, c)``),
            each ``(D * num_layers, B, H)`` for ``batch_dim=1`` or ``(B, H)`` for ``batch_dim=0``;
            ``None`` means there is no previous chunk (every row takes ``initial``).
        initial: the initial state, same structure and shapes as ``carried``.
        reset: ``(B,)`` bool, ``True`` for the rows that begin a sequence.
        batch_dim: the batch dimension of the state tensors.

    Returns:
        The mixed state, same structure as ``initial``. Gradients flow into ``initial`` for the
        reset rows only.
    """
    if carried is None:
        return initial
    single = isinstance(initial, Tensor)
    inits = (initial,) if single else tuple(initial)
    carrs = (carried,) if isinstance(carried, Tensor) else tuple(carried)
    if len(inits) != len(carrs):
        raise ValueError(f"state structures differ: {len(carrs)} carried vs {len(inits)} initial")
    out = []
    for c, i in zip(carrs, inits):
        shape = [1] * i.dim()
        shape[batch_dim] = reset.numel()
        mask = reset.to(device=i.device, dtype=torch.bool).view(shape)
        out.append(torch.where(mask, i, c.detach()))
    return out[0] if single else tuple(out)
