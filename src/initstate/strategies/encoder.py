"""``encoder``: the initial state inferred from the sequence's own first steps by a small network.

Mohajerin & Waslander ("State initialization for recurrent neural network modeling of time-series
data", IJCNN 2017) map the first observations of a sequence to the RNN's initial state with a
feed-forward network trained jointly with the RNN. Our version, fixed here so that it can be tested:

1. Take the first ``k = encoder_steps`` steps of each sequence, ``x_0 .. x_{k-1}`` (``H_in`` each).
   A step that does not exist (the sequence is shorter than ``k``, or past ``lengths``) is set to
   zeros, and every step gets a validity flag ``m_t`` (1 real, 0 padding). The encoder's input is
   ``[x_0, m_0, x_1, m_1, ..., x_{k-1}, m_{k-1}]``, ``k * (H_in + 1)`` values: the flags let the
   network tell a missing step from a real step whose value is zero.
2. One hidden layer: ``z = tanh(W_1 · input + b_1)``, ``encoder_hidden`` units.
3. One linear head per state component, giving all layers and directions at once, followed by the
   activation that keeps it in the range the cell itself keeps that component in (the module
   passes ``state_activations``): ``h0 = tanh(W_h z + b_h)`` for a tanh RNN, a GRU and an LSTM
   without projection (their ``h`` lies in (-1, 1)); ``h0 = relu(W_h z + b_h)`` for a relu RNN
   (its ``h`` is ≥ 0); ``h0 = W_h z + b_h`` for an LSTM with ``proj_size`` (``h = W_hr h'`` is
   unbounded); ``c0 = W_c z + b_c`` for LSTMs (the cell state is unbounded). Reshaped to
   torch.nn's shapes, ``(D * num_layers, B, H_out)`` and ``(D * num_layers, B, H_cell)``.

The RNN then runs over the whole input, the first ``k`` steps included, so outputs keep torch.nn's
shapes and semantics. The state is deterministic (the same in training and evaluation). Cells see
one step per call and cannot use it (the cell classes raise). In truncated-BPTT (stateful) use the
state of a restarting row is computed from the first ``k`` steps of the chunk in which its sequence
starts: ``reset_rows(carried, module.initial_state(input=chunk), reset)``.

**Next-step prediction.** The state of a sequence is computed from its first ``k`` inputs, so the
outputs at steps ``0 .. k-1`` come from a state that has already seen those inputs. When the
target of step ``t`` is the input of step ``t + 1``, the outputs before step ``k`` have seen their
own targets (step ``t``'s target is input ``t + 1 < k``): score the loss from step ``k`` on (the
replication harness does this with ``trainer.score_from``), or the encoder looks better than it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .base import InitialState, check_rows, register

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": None}

NEEDS_INPUT_ERROR = (
    "init='encoder' computes the state from the input's first steps, so it needs the input: "
    "initial_state(input=x) (forward(x) without hx passes it itself)"
)


@register("encoder")
class Encoder(InitialState):
    """A feed-forward network from the first `encoder_steps` input steps to the initial state.

    `init="encoder"` (after Mohajerin & Waslander, IJCNN 2017; details in
    [`initstate.strategies.encoder`][initstate.strategies.encoder]): the first `k` steps of each
    sequence, each with a validity flag, go through one tanh hidden layer and one head per state
    component (tanh, relu or linear: the range of the cell's own states). The state is the same
    in training and evaluation. `LSTM`/`GRU`/`RNN` only: a cell sees one step per call.

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        encoder_steps: `k`, the number of leading steps the network sees (default 5).
        encoder_hidden: width of the hidden (tanh) layer (default 64).
        input_size: `H_in`, the module's input size (the recurrent module passes it).
        state_activations: one of `"tanh"`, `"relu"`, `"identity"` per component, the
            activation of its head (the recurrent module passes the cell's own ranges); default
            `tanh` for the first component and `identity` for the others.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.

    Attributes:
        hidden: `nn.Linear(k * (H_in + 1), encoder_hidden)`, the shared hidden layer.
        h0: `nn.Linear(encoder_hidden, prod(shape))`, the head of `h_0` (one per unmasked
            component, named after it: `c0` too for an LSTM); a masked component has none.

    Shape:
        - input: `(B, L, H_in)` (batch first, as the module passes it) or a `PackedSequence`.
        - lengths: optional `(B,)` valid steps per row (tensor input only).
        - output: as [`InitialState`][initstate.InitialState], e.g. `(D * num_layers, B, H)`
          per component.

    Examples:
        >>> import torch, initstate
        >>> lstm = initstate.LSTM(3, 4, num_layers=2, init="encoder", encoder_steps=2)
        >>> x = torch.randn(7, 5, 3)                # (L, B, H_in)
        >>> h_0, c_0 = lstm.initial_state(input=x)  # from each sequence's first 2 steps
        >>> h_0.shape, c_0.shape
        (torch.Size([2, 5, 4]), torch.Size([2, 5, 4]))
        >>> y = x.clone(); y[2:] = 0                # later steps do not change the state
        >>> torch.equal(lstm.initial_state(input=y)[0], h_0)
        True
    """

    needs_input = True

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        encoder_steps: int = 5,
        encoder_hidden: int = 64,
        input_size: int | None = None,
        state_activations: Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask)
        if state_activations is None:
            state_activations = ["tanh"] + ["identity"] * (len(self.shapes) - 1)
        self.activations = list(state_activations)
        if len(self.activations) != len(self.shapes) or not all(a in ACTIVATIONS for a in self.activations):
            raise ValueError(
                f"state_activations needs one of {', '.join(ACTIVATIONS)} per state component "
                f"({len(self.shapes)}), got {state_activations!r}"
            )
        self.steps = _positive_int("encoder_steps", encoder_steps)
        self.hidden_size = _positive_int("encoder_hidden", encoder_hidden)
        if input_size is None:
            raise ValueError("init='encoder' needs input_size (H_in); the recurrent modules pass it")
        self.input_size = _positive_int("input_size", input_size)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        # + 1: each step's validity flag (see the module docstring).
        self.hidden = nn.Linear(self.steps * (self.input_size + 1), self.hidden_size, **factory)
        for i, name in enumerate(self.names):
            head = nn.Linear(self.hidden_size, math.prod(self.shapes[i]), **factory) if self.mask[i] else None
            self.add_module(name, head)

    def reset_parameters(self) -> None:
        """Fresh draws of every layer, as ``nn.Linear`` initialises itself."""
        for layer in self.children():
            cast(nn.Linear, layer).reset_parameters()

    def first_steps(
        self, input: Tensor | PackedSequence, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The first ``k`` steps of each row, zero-padded, and their validity.

        Args:
            input: ``(B, L, H_in)`` tensor or a ``PackedSequence`` (any ``enforce_sorted``).
            lengths: optional ``(B,)`` valid steps per row of a tensor input.

        Returns:
            ``x`` ``(B, k, H_in)`` with every invalid step zero, and ``valid`` ``(B, k)`` bool;
            rows in the caller's order (for packed input: the order of ``unsorted_indices``).
        """
        k = self.steps
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths is for tensor input; a PackedSequence carries its own")
            # The first k time steps are the first sum(batch_sizes[:k]) rows of the packed data:
            # unpack only those. pad_packed_sequence restores the caller's row order (hx's order,
            # which torch permutes by sorted_indices), so each row gets the state of its own steps.
            steps = min(k, input.batch_sizes.numel())
            count = int(input.batch_sizes[:steps].sum())
            head = PackedSequence(
                input.data[:count], input.batch_sizes[:steps], input.sorted_indices, input.unsorted_indices
            )
            x, lens = pad_packed_sequence(head, batch_first=True, total_length=k)
            valid = torch.arange(k, device=x.device) < lens.to(x.device).unsqueeze(1)
            return x, valid
        if input.dim() != 3:
            raise ValueError(f"encoder input must be (B, L, H_in) or a PackedSequence, got {tuple(input.shape)}")
        x = input[:, :k]
        present = x.size(1)  # min(k, L); never int(B), which export and trace keep symbolic
        if present < k:
            x = nn.functional.pad(x, (0, 0, 0, k - present))
        t = torch.arange(k, device=x.device)
        valid = (t < present).unsqueeze(0).expand(x.size(0), k)
        if lengths is not None:
            lengths = check_lengths(lengths, x.size(0), input.size(1), x.device)
            valid = valid & (t.unsqueeze(0) < lengths.unsqueeze(1))
            x = x * valid.unsqueeze(-1).to(x.dtype)
        return x, valid

    def forward(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        rows: Tensor | Sequence[bool] | None = None,
        *,
        input: Tensor | PackedSequence | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor | None, ...]:
        """The encoder's state for ``input`` (see :meth:`InitialState.forward`); ``rows`` is checked
        and otherwise ignored: the state of a row depends on that row's steps only."""
        if input is None:
            raise ValueError(NEEDS_INPUT_ERROR)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if rows is not None:
            check_rows(rows, batch_size, device if device is not None else "cpu")
        w = self.hidden.weight
        if lengths is None and isinstance(input, Tensor) and input.dim() == 3 and input.size(1) >= self.steps:
            # Every one of the k steps is real (the common case): the flags are all 1, appended
            # by one pad instead of building the mask (fewer tiny ops: the fixed cost of a step).
            feats = nn.functional.pad(input[:, : self.steps].to(w.dtype), (0, 1), value=1.0)
        else:
            x, valid = self.first_steps(input, lengths)
            feats = torch.cat([x.to(w.dtype), valid.unsqueeze(-1).to(w.dtype)], dim=-1)  # (B, k, H_in + 1)
        z = torch.tanh(self.hidden(feats.flatten(1)))  # (B, encoder_hidden)
        out: list[Tensor | None] = []
        for i, name in enumerate(self.names):
            head = getattr(self, name)
            if head is None:
                out.append(None)
                continue
            s = head(z)
            act = ACTIVATIONS[self.activations[i]]
            s = act(s) if act is not None else s  # the range the cell keeps this component in
            # (B, prod(shape)) -> (B, *shape) -> batch moved to batch_dim; cuDNN wants contiguous.
            s = s.unflatten(1, self.shapes[i]).movedim(0, self.batch_dim).contiguous()
            if batch_size is None:  # unbatched input came as B = 1
                s = s.squeeze(self.batch_dim)
            out.append(s.to(dtype))
        return tuple(out)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, encoder_steps={self.steps}, input_size={self.input_size}"


def check_lengths(
    lengths: Tensor | Sequence[int], batch: int, steps: int, device: torch.device | str | None
) -> Tensor:
    """``lengths`` as a ``(B,)`` int64 tensor on ``device``; one ``ValueError`` for any bad value.

    Valid: one integer per row (a tensor, list or tuple; float entries only if whole numbers),
    each in ``[0, L]``. A 2-D tensor, ``-1``, ``2.5`` or a length past ``L`` used to be accepted
    silently (masking the wrong steps); they are refused here, before any state is computed.
    """
    t = torch.as_tensor(lengths)
    ok = t.dim() == 1 and t.numel() == batch and t.dtype != torch.bool
    if ok and (t.is_floating_point() or t.is_complex()):
        ok = bool((t == t.round()).all()) if t.is_floating_point() else False
    if ok and t.numel():
        ok = bool((t >= 0).all() and (t <= steps).all())
    if not ok:
        shown = t.tolist() if t.numel() <= 8 else f"shape {tuple(t.shape)}"
        raise ValueError(
            f"lengths must be a (B,) = ({batch},) sequence of integers in [0, L] = [0, {steps}], got {shown}"
        )
    return t.to(device=device, dtype=torch.long)


def _positive_int(name: str, value: Any) -> int:
    """``value`` as an int ``>= 1`` (numpy integers too); ``ValueError`` otherwise (bools included)."""
    is_int = isinstance(value, int) or type(value).__name__.startswith(("int", "uint"))
    if isinstance(value, bool) or not is_int or int(value) < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
