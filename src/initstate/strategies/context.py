"""``context``: the initial state computed from a per-sequence context vector given to ``forward``.

The pattern of Temporal Fusion Transformer's static-context initial state, seq2seq bridges
(fairseq's ``encoder_hidden_proj``, OpenNMT's ``-bridge``), captioners' ``init_h = Linear(image
features)`` and Sketch-RNN's ``h0 = tanh(W z + b)``. Our version, fixed here so that it can be tested:

1. The caller gives one context vector per sequence, ``c`` of shape ``(B, C)`` (``(C,)`` for
   unbatched input), as a keyword: ``lstm(x, context=c)``. ``C = context_size``.
2. Each state component has one affine head from ``c`` to all its layers and directions at once:
   ``s = W c + b`` with ``W`` of shape ``(prod(shape), C)``. Row ``k * H + j`` of ``W`` gives unit
   ``j`` of slot ``k`` of the component, the slot being torch.nn's ``hx`` index (``k = layer * D +
   direction``); for a cell there is one slot.
3. An activation puts ``s`` in the range of the states the cell itself produces, so that the start
   is a state the recurrence could have reached:

   - ``h`` of a tanh ``RNN``/``RNNCell``, a ``GRU``/``GRUCell`` and an ``LSTM``/``LSTMCell``
     without projection lies in (−1, 1): ``tanh``;
   - ``h`` of a relu ``RNN``/``RNNCell`` is ``>= 0``: ``relu`` (the cell's own nonlinearity, so
     that ``0`` is reachable exactly; rows whose pre-activation is negative start at ``0`` and send
     no gradient, as the cell's own relu does);
   - ``c`` of an LSTM and ``h`` of an LSTM with ``proj_size > 0`` (``W_hr h``) are unbounded: no
     activation (linear).

   The module tells the strategy which range each component has (``state_activations``).
4. The heads start as ``nn.Linear`` initialises itself, and are trained with the RNN.

The state is deterministic (the same in training and evaluation). An explicit ``hx`` overrides
it: ``forward(x, hx, context=c)`` ignores ``c``. For packed input, the rows of ``c`` follow the
caller's batch order (the order of ``hx``; torch permutes both by ``sorted_indices``). Under
truncated BPTT, build the state of the restarting rows from the current chunk's contexts:
``reset_rows(carried, module.initial_state(B, context=c), reset)``; the carried rows keep their
state exactly, and their contexts get no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from .base import InitialState, check_rows, register

# The range of each state component -> the head's activation (see the module docstring, 3.).
RANGES = {"tanh": torch.tanh, "relu": torch.relu, "identity": None}


@register("context")
class Context(InitialState):
    """One affine head per state component from a `(B, C)` context vector to the initial state.

    `init="context"` (details in [`initstate.strategies.context`][initstate.strategies.context]):
    the caller gives one context vector per sequence, `forward(x, context=c)`, and each component
    is `act(W c + b)`, the activation matching the range of the cell's own states (tanh, relu
    or linear). The state is the same in training and evaluation. Not in
    [`INIT_CHOICES`][initstate.INIT_CHOICES]: a caller that passes only `x` cannot use it.

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        context_size: `C`, the size of the context vector (required).
        state_activations: one entry per component, `"tanh"` (a tanh head), `"relu"`
            or `"identity"` (linear); the recurrent module passes its cell's ranges. Default:
            `"tanh"` for the first component (`h`), `"identity"` for the others (`c`).
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.

    Attributes:
        h0: `nn.Linear(C, prod(shape))`, the head of `h_0` (one per unmasked component, named
            after it: `c0` too for an LSTM); a masked component (`init_mask`) has none and
            stays zero.

    Shape:
        - context: `(B, C)`, or `(C,)` when `batch_size` is `None` (unbatched input).
        - output: as [`InitialState`][initstate.InitialState], e.g. `(D * num_layers, B, H)`
          per component for the `nn.RNN` family and `(B, H)` for cells.

    Examples:
        >>> import torch, initstate
        >>> lstm = initstate.LSTM(3, 4, num_layers=2, init="context", context_size=6)
        >>> x, c = torch.randn(7, 5, 3), torch.randn(5, 6)  # (L, B, H_in), (B, C)
        >>> output, (h_n, c_n) = lstm(x, context=c)          # or lstm(x, None, c)
        >>> h_0, c_0 = lstm.initial_state(5, context=c)      # what forward used
        >>> h_0.shape, bool((h_0.abs() < 1).all())           # h in tanh's range
        (torch.Size([2, 5, 4]), True)
        >>> torch.equal(lstm(x, (h_0, c_0))[0], output)
        True
    """

    needs_context = True

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        context_size: int | None = None,
        state_activations: Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask)
        if context_size is None:
            raise ValueError("init='context' needs context_size=C, the size of the (B, C) context vector")
        is_int = isinstance(context_size, int) or type(context_size).__name__.startswith(("int", "uint"))
        if isinstance(context_size, bool) or not is_int or int(context_size) < 1:
            raise ValueError(f"context_size must be a positive int, got {context_size!r}")
        self.context_size = int(context_size)
        if state_activations is None:
            state_activations = ["tanh"] + ["identity"] * (len(self.shapes) - 1)
        self.state_activations = list(state_activations)
        if len(self.state_activations) != len(self.shapes) or not set(self.state_activations) <= set(RANGES):
            raise ValueError(
                f"state_activations needs one of {', '.join(RANGES)} per state component ({self.names}), "
                f"got {state_activations!r}"
            )
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        for i, name in enumerate(self.names):
            head = nn.Linear(self.context_size, math.prod(self.shapes[i]), **factory) if self.mask[i] else None
            self.add_module(name, head)

    def reset_parameters(self) -> None:
        """Fresh draws of every head, as ``nn.Linear`` initialises itself."""
        for head in self.children():
            cast(nn.Linear, head).reset_parameters()

    def check_context(self, context: Any, batch_size: int | None) -> Tensor:
        """``context`` itself; ``ValueError`` unless it is a floating ``(B, C)`` (or ``(C,)``) tensor."""
        want = f"({self.context_size},)" if batch_size is None else f"(B, C) = ({batch_size}, {self.context_size})"
        if context is None:
            raise ValueError(
                f"init='context' computes the state from a per-sequence context vector: pass "
                f"context= of shape {want} to forward (or initial_state), or pass hx"
            )
        if not isinstance(context, Tensor) or not context.is_floating_point():
            raise ValueError(f"context must be a floating-point tensor of shape {want}, got {_describe(context)}")
        # Comparisons, never int(): under torch.export the batch is symbolic.
        ok = (
            context.dim() == 1 and context.size(0) == self.context_size
            if batch_size is None
            else context.dim() == 2 and context.size(0) == batch_size and context.size(1) == self.context_size
        )
        if not ok:
            what = "unbatched input" if batch_size is None else "this input"
            raise ValueError(f"context must have shape {want} for {what}, got {tuple(context.shape)}")
        return context

    def forward(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        rows: Tensor | Sequence[bool] | None = None,
        *,
        context: Tensor | None = None,
    ) -> tuple[Tensor | None, ...]:
        """The state for ``context`` (see :meth:`InitialState.forward`); ``rows`` is checked and
        otherwise ignored: each row's state depends on its own context only, and ``reset_rows``
        picks the restarting rows."""
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        context = self.check_context(context, batch_size)
        if rows is not None:
            check_rows(rows, batch_size, device if device is not None else context.device)
        out: list[Tensor | None] = []
        for i, name in enumerate(self.names):
            head = getattr(self, name)
            if head is None:
                out.append(None)
                continue
            s = head(context.to(head.weight.dtype))  # (B, prod(shape)), or (prod(shape),) unbatched
            act = RANGES[self.state_activations[i]]
            s = act(s) if act is not None else s
            if batch_size is None:
                s = s.reshape(self.shapes[i])
            else:
                # (B, prod) -> (B, *shape) -> batch moved to batch_dim; cuDNN wants a contiguous hx.
                s = s.unflatten(1, self.shapes[i]).movedim(0, self.batch_dim).contiguous()
            out.append(s.to(dtype))
        return tuple(out)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, context_size={self.context_size}, state_activations={self.state_activations}"


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:80]
