"""``zero``: the PyTorch default, zeros in training and evaluation."""

from __future__ import annotations

from collections.abc import Sequence

from .base import InitialState, register


@register("zero")
class Zero(InitialState):
    """All components zero, in training and evaluation: torch.nn's default (`init="zero"`).

    `forward` returns `None` for every component, so torch.nn builds the zeros itself and the
    module costs exactly what torch.nn costs. Takes no `mask`: every component is zero already,
    so an `init_mask` has no effect (and warns, see [`build_strategy`][initstate.build_strategy]).

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.

    Shape:
        - output: `(None, ...)`, one `None` ("zeros") per component.

    Examples:
        >>> import torch, initstate
        >>> lstm = initstate.LSTM(3, 4, num_layers=2)  # init="zero" is the default
        >>> lstm.init_state(5)                          # torch.nn builds the zeros itself
        (None, None)
        >>> torch.equal(lstm.initial_state(5)[0], torch.zeros(2, 5, 4))
        True
    """

    def __init__(self, shapes: Sequence[Sequence[int]], batch_dim: int, names: Sequence[str] | None = None) -> None:
        super().__init__(shapes, batch_dim, names)
