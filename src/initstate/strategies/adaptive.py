"""``adaptive``: a learned state plus noise whose scale follows the error backpropagated to it.

Zimmermann, Tietz & Grothmann ("Forecasting with Recurrent Neural Networks: 12 Tricks", Neural
Networks: Tricks of the Trade, 2nd ed., 2012) describe, in prose only, an initial state that is
learned and disturbed by noise "adapted to the backpropagated error", so that the network learns
to be robust to an uncertain start while the disturbance fades as the start-of-sequence error
fades. Our reading, fixed here so that it can be tested:

1. In training mode the state of component ``i`` is ``s_i + σ_i · ε``, ``ε ~ N(0, 1)`` drawn per
   sequence, where ``s_i`` is the learned state (as in ``learned``).
2. A gradient hook on that state observes ``g = ∂loss/∂h0`` for every sequence of the batch. Its
   per-sequence root-mean-square, multiplied by the batch size B (so that a batch-mean loss gives
   the gradient of one sequence's own loss), averaged over the sequences that *start* from the
   state, is the *error* ``e``. Under truncated BPTT only some rows start a sequence in a chunk;
   the others carry their state and send a zero gradient that says nothing about the error, so
   they are left out: :func:`initstate.reset_rows` tells the state which rows it restarts, and
   ``initial_state(B, rows=mask)`` does the same by hand. A backward pass in which no row starts
   observes nothing (``ē`` and σ stay as they were).
3. An exponential moving average ``ē ← decay · ē + (1 − decay) · e`` tracks it; the first non-zero
   observation is kept as the reference ``e_ref`` (and seeds ``ē``).
4. The noise scale is ``σ_i = noise_std · ē / e_ref``: it starts at ``noise_std``, grows when the
   start-of-sequence error grows, and decays towards zero when the error does (a zero gradient
   makes it decay geometrically at rate ``decay``).

Noise is off in evaluation mode (the state is the learned ``s_i``). The hook only runs when the
state takes part in a backward pass; ``noise_scale`` exposes ``σ`` for logging. Under a
``torch.func`` transform (``grad(functional_call(...))``) the update is skipped: the buffers are
inputs of a pure function there, and mutating them is not allowed (the same reason functorch
asks BatchNorm not to track running statistics); the noise still uses the current σ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import check_noise_std, check_rows, register
from .learned import Learned


@register("adaptive")
class Adaptive(Learned):
    """Learned state + noise scaled by a running estimate of the gradient w.r.t. the state.

    `init="adaptive"` (the initial-state trick of Zimmermann, Tietz & Grothmann, 2012, as read in
    [`initstate.strategies.adaptive`][initstate.strategies.adaptive]): in training mode the state
    of component `i` is `s_i + σ_i · ε`, `ε ~ N(0, 1)` per sequence, with
    `σ_i = noise_std · ē / e_ref`, where `ē` is an EMA of the error reaching the state in
    backward passes and `e_ref` its first non-zero value. In evaluation mode the state is the
    learned `s_i`.

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        learned_init: `"zeros"` (default) or `"normal"` (N(0, 0.1²)) for the learned part.
        noise_std: the noise scale before any gradient is seen (and at `ē = e_ref`).
        adaptive_decay: EMA decay of the gradient estimate, in `[0, 1)`.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.

    Attributes:
        h0: the learned `h_0` (and `c0` for an LSTM), as in [`Learned`][initstate.Learned].
        grad_ema: buffer, `(num_components,)` running error estimate `ē`.
        grad_ref: buffer, `(num_components,)` the first non-zero error, 0 until one is seen.

    Shape:
        - output: as [`Learned`][initstate.Learned].

    Examples:
        >>> import torch, initstate
        >>> gru = initstate.GRU(3, 4, init="adaptive", adaptive_decay=0.5)
        >>> gru.init_state.noise_scale              # sigma before any backward: noise_std
        tensor([0.3000])
        >>> x = torch.randn(5, 2, 3)
        >>> gru(x)[0].pow(2).mean().backward()      # the first error is the reference
        >>> gru.init_state.noise_scale
        tensor([0.3000])
        >>> gru(x)[0].mul(0).sum().backward()       # a zero error halves the EMA (decay 0.5)
        >>> gru.init_state.noise_scale
        tensor([0.1500])
    """

    grad_ema: Tensor
    grad_ref: Tensor

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        noise_std: float = 0.3,
        adaptive_decay: float = 0.99,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask, learned_init, device=device, dtype=dtype)
        self.noise_std = check_noise_std(noise_std)
        if not 0.0 <= float(adaptive_decay) < 1.0:
            raise ValueError(f"adaptive_decay must lie in [0, 1), got {adaptive_decay}")
        self.adaptive_decay = float(adaptive_decay)
        n = len(self.shapes)
        self.register_buffer("grad_ema", torch.zeros(n, device=device, dtype=torch.float32))
        self.register_buffer("grad_ref", torch.zeros(n, device=device, dtype=torch.float32))

    def reset_parameters(self) -> None:
        """Learned state back to ``learned_init`` and the error estimate forgotten (σ = noise_std).

        Also what makes deferred construction (``device="meta"``, ``to_empty``) safe: ``to_empty``
        leaves the buffers uninitialised, and a negative ``grad_ref`` would freeze the EMA.
        """
        super().reset_parameters()
        if "grad_ema" in self._buffers:  # Learned.__init__ calls this before the buffers exist
            self.grad_ema.zero_()
            self.grad_ref.zero_()

    @property
    def noise_scale(self) -> Tensor:
        """``(num_components,)`` the current σ of each component's noise."""
        ratio = torch.where(self.grad_ref > 0, self.grad_ema / self.grad_ref.clamp_min(1e-30), 1.0)
        return self.noise_std * ratio

    @torch.no_grad()
    def observe(self, i: int, grad: Tensor, rows: Tensor | None = None) -> None:
        """Update the running error of component ``i`` from ``grad`` (the state's gradient).

        Args:
            grad: ``∂loss/∂state``, the batched shape (B at ``batch_dim``) or the unbatched one.
            rows: ``(B,)`` bool, the rows that started from the state; ``None``: all of them.
        """
        if _under_function_transform(grad):
            return  # documented: no buffer mutation inside torch.func transforms
        if grad.dim() == len(self.shapes[i]):  # unbatched: one sequence
            per_seq, b = grad.reshape(1, -1), 1
        else:
            b = grad.size(self.batch_dim)
            per_seq = grad.movedim(self.batch_dim, 0).reshape(b, -1)
        err_rows = (per_seq.float() * b).pow(2).mean(dim=1).sqrt()  # (B,)
        if rows is None:  # every row started from the state (the windows regime)
            err, seen = err_rows.mean(), None
        else:
            w = rows.to(device=grad.device, dtype=err_rows.dtype)
            n = w.sum()
            err, seen = (err_rows * w).sum() / n.clamp_min(1.0), n > 0  # seen: any row started
        ref, ema = self.grad_ref[i], self.grad_ema[i]
        # Branch-free (torch.where, no `if` on values) so that no host sync is needed on a GPU.
        first = (ref == 0) & (err > 0)
        first = first if seen is None else first & seen
        ref.copy_(torch.where(first, err, ref))
        new = torch.where(first, err, self.adaptive_decay * ema + (1 - self.adaptive_decay) * err)
        update = ref > 0 if seen is None else seen & (ref > 0)
        ema.copy_(torch.where(update, new, ema))

    def forward(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        rows: Tensor | Sequence[bool] | None = None,
    ) -> tuple[Tensor | None, ...]:
        """As :meth:`InitialState.forward`; ``rows`` limits which rows the σ update observes."""
        if not self.training:
            return super().forward(batch_size, dtype, device, rows)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        device = torch.device(device) if device is not None else torch.device("cpu")
        # One selection shared by this call's components, a list so that reset_rows can narrow
        # it after the state is built (the hooks read it at backward time).
        selection = [None if rows is None else check_rows(rows, batch_size, device)]
        return tuple(
            self.component(i, batch_size, dtype, device, selection) if self.mask[i] else None
            for i in range(len(self.shapes))
        )

    def component(
        self,
        i: int,
        batch_size: int | None,
        dtype: torch.dtype,
        device: torch.device,
        selection: list[Tensor | None] | None = None,
    ) -> Tensor | None:
        if not self.training:
            return super().component(i, batch_size, dtype, device)
        p = self._param(i, dtype)
        shape = self.batched_shape(i, batch_size)
        noise = torch.randn(shape, dtype=dtype, device=device)
        base = p if batch_size is None else p.unsqueeze(self.batch_dim)
        state = torch.addcmul(base, noise, self.noise_scale[i].to(dtype))
        if state.requires_grad:
            selection = selection if selection is not None else [None]
            state.register_hook(lambda g, i=i, sel=selection: self.observe(i, g, sel[0]))  # type: ignore[no-untyped-call]
            if batch_size is not None and not torch.compiler.is_compiling():
                # The tag reset_rows looks for (a plain attribute: nothing to trace or compile).
                state._initstate_rows = selection  # type: ignore[attr-defined]
        return state

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}, adaptive_decay={self.adaptive_decay}"


def _under_function_transform(t: Tensor) -> bool:
    """True for the wrapped tensors that torch.func transforms (grad, vjp, vmap) pass around."""
    if torch.compiler.is_compiling():
        return False  # dynamo cannot trace the check (a graph break and a warning for nothing)
    functorch = getattr(torch._C, "_functorch", None)
    is_wrapped = getattr(functorch, "is_functorch_wrapped_tensor", None)
    return bool(is_wrapped is not None and is_wrapped(t))
