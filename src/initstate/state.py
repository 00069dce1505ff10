"""Helpers for carrying a recurrent state across truncated-BPTT chunks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# A module's state: one tensor (h) or a tuple of them ((h, c) for LSTMs).
State = Tensor | tuple[Tensor, ...]


def reset_rows(
    carried: State | None,
    initial: State,
    reset: Tensor | Sequence[bool],
    batch_dim: int | None = None,
) -> State:
    """Start flagged rows from ``initial`` and carry the others, detached, from ``carried``.

    Used when long sequences are read in truncated-BPTT chunks: a row that begins a new sequence
    in this chunk takes the strategy's initial state, every other row continues from the previous
    chunk's final state, with the graph cut so gradients stop at the chunk boundary.

    Pass ``initial`` as ``module.initial_state(B)`` returned it: the state then learns which rows
    really start from it, so that ``adaptive``'s σ follows those rows only (the carried rows send
    it a zero gradient that says nothing about the start-of-sequence error) and a chunk in which
    no row starts leaves σ unchanged. The same holds for ``initial_state(B, rows=reset)``.

    For ``init="encoder"``, which computes the state from a sequence's first ``k`` steps, build
    ``initial`` from the chunk itself: ``reset_rows(carried, module.initial_state(input=chunk,
    lengths=valid_steps), reset)``, ``chunk`` laid out as ``forward`` takes it. A restarting row
    must begin its sequence at the chunk's first step (as chunked batches do): its state comes
    from the chunk's first ``k`` steps (fewer if ``lengths`` says so, masked as described in
    :mod:`initstate.strategies.encoder`). The carried rows keep their state exactly; the encoder's
    output for them is discarded and sends it no gradient. ``input=`` works with every strategy
    (the others only read ``B`` from it), so a training loop can pass it unconditionally.

    Args:
        carried: the previous chunk's final state, a tensor or a tuple of tensors (e.g. ``(h, c)``),
            each ``(D * num_layers, B, H)`` (the ``nn.RNN`` family) or ``(B, H)`` (cells);
            ``None`` means there is no previous chunk (every row takes ``initial``).
        initial: the initial state, same structure and shapes as ``carried``.
        reset: ``(B,)`` bool tensor or list of bools, ``True`` for the rows that begin a sequence.
        batch_dim: the batch dimension of the state tensors; default: 1 for 3-D states (the
            ``nn.RNN`` family), 0 for 2-D ones (cells). Inferring it per tensor means a cell state
            with ``B == H`` cannot be reset along the wrong dimension.

    Returns:
        The mixed state, same structure as ``initial``. Gradients flow into ``initial`` for the
        reset rows only.

    Raises:
        ValueError: the batch dimension's size differs from ``reset``'s length, or the structures
            of ``carried`` and ``initial`` differ.
    """
    if carried is None:
        return initial  # every row starts from initial: nothing to tell the strategy
    single = isinstance(initial, Tensor)
    inits = (initial,) if single else tuple(initial)
    carrs = (carried,) if isinstance(carried, Tensor) else tuple(carried)
    if len(inits) != len(carrs):
        raise ValueError(f"state structures differ: {len(carrs)} carried vs {len(inits)} initial")
    flags = torch.as_tensor(reset, device=inits[0].device).to(torch.bool).reshape(-1)
    out = []
    for c, i in zip(carrs, inits):
        dim = batch_dim if batch_dim is not None else (1 if i.dim() == 3 else 0)
        if i.size(dim) != flags.numel() or c.shape != i.shape:
            raise ValueError(
                f"reset has {flags.numel()} rows but the state's batch dimension ({dim}) has "
                f"{i.size(dim)} (initial {tuple(i.shape)}, carried {tuple(c.shape)})"
            )
        shape = [1] * i.dim()
        shape[dim] = flags.numel()
        mask = flags.to(i.device).view(shape)
        out.append(torch.where(mask, i, c.detach()))
        # A state from an adaptive strategy carries the row selection its gradient hook reads.
        selection = getattr(i, "_initstate_rows", None)
        if selection is not None:
            selection[0] = flags if selection[0] is None else selection[0] & flags.to(selection[0].device)
    return out[0] if single else tuple(out)
