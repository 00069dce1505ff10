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

5. An observation that is not finite (an overflowing backward, which ``torch.amp.GradScaler``
   skips, or an empty batch) is ignored: ``ē``, ``e_ref`` and σ keep their values.

**Mixed precision.** Under ``torch.amp.GradScaler`` the hook sees ``scale · ∂loss/∂h0``, and the
scale grows and shrinks during training (a factor 32 in a few hundred steps), so σ would follow
the loss scale instead of the error. We divide the scale out rather than make the estimate
scale-invariant: a scale-invariant statistic (e.g. the h0 gradient relative to the output
gradient of the same backward) would measure how far the error travels back, not how large the
start-of-sequence error is, which is what the trick adapts to. The strategy cannot see the scaler
by itself, so tell it once: ``initstate.strategies.adaptive.use_grad_scaler(model, scaler)``
(every ``adaptive`` state in ``model``), or ``strategy.set_grad_scaler(scaler)``. The scale is read
as the scaler's device tensor at backward time (no host sync).

Noise is off in evaluation mode (the state is the learned ``s_i``). The hook only runs when the
state takes part in a backward pass; ``noise_scale`` exposes ``σ`` for logging. Under a
``torch.func`` transform (``grad(functional_call(...))``) the update is skipped: the buffers are
inputs of a pure function there, and mutating them is not allowed (the same reason functorch
asks BatchNorm not to track running statistics); the noise still uses the current σ. Under
``torch.compile`` the hook is left out of the graph (``torch.compiler.disable``) and runs eagerly
in the backward pass, so σ updates exactly as in eager mode.

The noise comes from the global RNG unless a ``generator`` is given (see
:class:`~initstate.strategies.Noisy`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor

from .base import check_decay, check_generator, check_noise_std, check_rows, normal, register
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
        generator: optional `torch.Generator` for the noise, as for [`Noisy`][initstate.Noisy].
            Default: `None`, torch's global RNG.
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
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask, learned_init, device=device, dtype=dtype)
        self.noise_std = check_noise_std(noise_std)
        self.adaptive_decay = check_decay(adaptive_decay)
        self.generator = check_generator(generator)
        self.grad_scaler = None  # a torch.amp.GradScaler whose scale the hook divides out
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

    def set_grad_scaler(self, scaler: Any) -> None:
        """Divide ``scaler``'s loss scale out of every observed gradient (``None``: stop)."""
        if scaler is not None and not callable(getattr(scaler, "is_enabled", None)):
            raise TypeError(f"set_grad_scaler expects a torch.amp.GradScaler or None, got {scaler!r}")
        self.grad_scaler = scaler

    def __getstate__(self) -> dict[str, Any]:
        # The scaler belongs to the training loop, not to the model: not pickled with it.
        return {**super().__getstate__(), "grad_scaler": None}  # type: ignore[no-untyped-call]

    def _loss_scale(self) -> Tensor | None:
        """The scale the current backward's gradients carry, as the scaler's tensor (or None)."""
        scaler = self.grad_scaler
        if scaler is None or not scaler.is_enabled():
            return None
        return getattr(scaler, "_scale", None)  # None until scaler.scale() first runs

    @property
    def noise_scale(self) -> Tensor:
        """``(num_components,)`` the current σ of each component's noise."""
        ratio = torch.where(self.grad_ref > 0, self.grad_ema / self.grad_ref.clamp_min(1e-30), 1.0)
        return self.noise_std * ratio

    def observe(self, i: int, grad: Tensor, rows: Tensor | None = None) -> None:
        """Update the running error of component ``i`` from ``grad`` (the state's gradient).

        Args:
            grad: ``∂loss/∂state``, the batched shape (B at ``batch_dim``) or the unbatched one.
            rows: ``(B,)`` bool, the rows that started from the state; ``None``: all of them.
        """
        if _under_function_transform(grad):
            return  # documented: no buffer mutation inside torch.func transforms
        n = math.prod(self.shapes[i])
        unbatched = grad.dim() == len(self.shapes[i])  # one sequence
        b = 1 if unbatched else grad.size(self.batch_dim)
        if b == 0:
            return  # an empty batch: nothing to observe
        with torch.no_grad():  # also under backward(create_graph=True): the buffers stay leaves
            # RMS of each row × B = its norm × B / sqrt(n), (B,): one reduction over every dim
            # but the batch (no movedim copy), in float32 at least (a half square overflows).
            acc = torch.promote_types(grad.dtype, torch.float32)
            dims = [d for d in range(grad.dim()) if unbatched or d != self.batch_dim]
            norms = torch.linalg.vector_norm(grad, dim=dims, dtype=acc)  # (B,), () unbatched
            # The hook runs right after the RNN's backward, with cold caches: every tiny op costs
            # ~3x its usual time, so the CPU path applies the factor in Python.
            if grad.device.type == "cpu":
                self._update_on_host(i, norms, rows, b / math.sqrt(n))
            else:
                self._update_on_device(i, norms.reshape(b) * (b / math.sqrt(n)), rows)

    def _update_on_host(self, i: int, err_rows: Tensor, rows: Tensor | None, factor: float = 1.0) -> None:
        # On the CPU reading a value costs nothing (no device sync), and Python arithmetic on
        # floats is cheaper than a dozen tiny tensor ops: the fixed cost of a step.
        if rows is None:
            err = float(err_rows.mean()) * factor
        else:
            rows = rows.to(err_rows.device)
            n_rows = int(rows.sum())
            if n_rows == 0:
                return  # no row started from the state
            err = float(torch.where(rows, err_rows.reshape(rows.shape), 0.0).sum()) / n_rows * factor
        scale = self._loss_scale()
        if scale is not None:
            err /= float(scale)
        if not math.isfinite(err):
            return  # an overflowing backward (GradScaler skips it) says nothing about the error
        buffers = self._buffers  # not through Module.__getattr__: this runs on every backward
        ref, ema = cast(Tensor, buffers["grad_ref"]), cast(Tensor, buffers["grad_ema"])
        if ref.tolist()[i] == 0.0:  # tolist: no indexing op
            if err > 0.0:  # the first non-zero error: the reference, and the EMA's seed
                ref[i] = err
                ema[i] = err
            return
        d = self.adaptive_decay
        ema[i] = d * ema.tolist()[i] + (1.0 - d) * err

    def _update_on_device(self, i: int, err_rows: Tensor, rows: Tensor | None) -> None:
        # The same update, branch-free (torch.where, no `if` on values): no host sync on a GPU.
        if rows is None:  # every row started from the state (the windows regime)
            err = err_rows.mean()
            seen = torch.isfinite(err)
        else:
            rows = rows.to(err_rows.device)
            n_rows = rows.sum()
            # where, not a product: a non-finite gradient of a carried row must not poison err.
            err = torch.where(rows, err_rows, 0.0).sum() / n_rows.clamp_min(1)
            seen = (n_rows > 0) & torch.isfinite(err)
        scale = self._loss_scale()
        if scale is not None:
            err = err / scale.to(err.device).reshape(())
        ref, ema = self.grad_ref[i], self.grad_ema[i]
        first = (ref == 0) & (err > 0) & seen
        ref.copy_(torch.where(first, err, ref))
        new = torch.where(first, err, torch.lerp(ema, err, 1.0 - self.adaptive_decay))
        ema.copy_(torch.where(seen & (ref > 0), new, ema))

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
        sigma = self._sigmas()  # once per call, not once per component
        parts = []
        for i in range(len(self.shapes)):
            parts.append(self.component(i, batch_size, dtype, device, selection, sigma) if self.mask[i] else None)
        return tuple(parts)

    def _sigmas(self) -> list[float] | Tensor:
        """σ per component: Python floats for CPU buffers in eager mode, else the tensor."""
        if self.grad_ref.device.type == "cpu" and not torch.compiler.is_compiling():
            refs, emas = self.grad_ref.tolist(), self.grad_ema.tolist()
            return [self.noise_std * (e / r if r > 0 else 1.0) for e, r in zip(emas, refs)]
        return self.noise_scale

    def component(
        self,
        i: int,
        batch_size: int | None,
        dtype: torch.dtype,
        device: torch.device,
        selection: list[Tensor | None] | None = None,
        sigma: list[float] | Tensor | None = None,
    ) -> Tensor | None:
        if not self.training:
            return super().component(i, batch_size, dtype, device)
        p = self._param(i, dtype)
        shape = self.batched_shape(i, batch_size)
        base = p if batch_size is None else p.unsqueeze(self.batch_dim)
        sigma_i = (sigma if sigma is not None else self._sigmas())[i]
        state: Tensor | None
        if isinstance(sigma_i, float):  # two ops: draw N(0, σ²), add the learned state
            state = torch.add(base, normal(sigma_i, shape, self.generator, dtype, device)) if sigma_i > 0 else (
                super().component(i, batch_size, dtype, device))
        else:
            state = torch.addcmul(base, normal(1.0, shape, self.generator, dtype, device), sigma_i.to(dtype))
        if state is not None and state.requires_grad:
            selection = selection if selection is not None else [None]
            if torch.compiler.is_compiling():
                # Out of the graph: dynamo cannot inline a hook that mutates buffers (it crashed
                # on LSTMs); disabled, it runs eagerly in the backward pass.
                state.register_hook(lambda g, i=i, sel=selection: _observe_eagerly(self, i, g, sel[0]))  # type: ignore[no-untyped-call]
            else:
                state.register_hook(lambda g, i=i, sel=selection: self.observe(i, g, sel[0]))  # type: ignore[no-untyped-call]
                if batch_size is not None:
                    # The tag reset_rows looks for (a plain attribute: nothing to trace or compile).
                    state._initstate_rows = selection  # type: ignore[attr-defined]
        return state

    def diagnostics(self) -> dict[str, Tensor]:
        """``noise_scale``: σ of each component; ``error_ema``: its running error ``ē`` (see above)."""
        return {"noise_scale": self.noise_scale.detach().clone(), "error_ema": self.grad_ema.detach().clone()}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}, adaptive_decay={self.adaptive_decay}"


@torch.compiler.disable  # type: ignore[untyped-decorator]
def _observe_eagerly(strategy: Adaptive, i: int, grad: Tensor, rows: Tensor | None) -> None:
    strategy.observe(i, grad, rows)


def use_grad_scaler(model: torch.nn.Module, scaler: Any) -> int:
    """Tell every ``adaptive`` state in ``model`` to divide ``scaler``'s loss scale out.

    Call it once, after building the ``torch.amp.GradScaler`` that scales the loss::

        scaler = torch.amp.GradScaler("cuda")
        use_grad_scaler(model, scaler)

    Returns the number of ``adaptive`` strategies found (0 means the call had no effect).
    """
    found = [m for m in model.modules() if isinstance(m, Adaptive)]
    for m in found:
        m.set_grad_scaler(scaler)
    return len(found)


def _under_function_transform(t: Tensor) -> bool:
    """True for the wrapped tensors that torch.func transforms (grad, vjp, vmap) pass around."""
    if torch.compiler.is_compiling():
        return False  # dynamo cannot trace the check (a graph break and a warning for nothing)
    functorch = getattr(torch._C, "_functorch", None)
    is_wrapped = getattr(functorch, "is_functorch_wrapped_tensor", None)
    return bool(is_wrapped is not None and is_wrapped(t))
