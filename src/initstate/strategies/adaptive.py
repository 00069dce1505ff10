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
   the gradient of one sequence's own loss), averaged over the batch, is the *error* ``e``.
3. An exponential moving average ``ē ← decay · ē + (1 − decay) · e`` tracks it; the first non-zero
   observation is kept as the reference ``e_ref`` (and seeds ``ē``).
4. The noise scale is ``σ_i = noise_std · ē / e_ref``: it starts at ``noise_std``, grows when the
   start-of-sequence error grows, and decays towards zero when the error does (a zero gradient
   makes it decay geometrically at rate ``decay``).

Noise is off in evaluation mode (the state is the learned ``s_i``). The hook only runs when the
state takes part in a backward pass; ``noise_scale`` exposes ``σ`` for logging.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import check_noise_std, register
from .learned import Learned


@register("adaptive")
class Adaptive(Learned):
    """Learned state + noise scaled by a running estimate of the gradient w.r.t. the state.

    Args:
        noise_std: the noise scale before any gradient is seen (and at ``ē = e_ref``).
        adaptive_decay: EMA decay of the gradient estimate, in ``[0, 1)``.

    Buffers:
        grad_ema: ``(num_components,)`` running error estimate ``ē``.
        grad_ref: ``(num_components,)`` the first non-zero error, 0 until one is seen.
    """

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        noise_std: float = 0.3,
        adaptive_decay: float = 0.99,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask, learned_init, device=device, dtype=dtype)
        self.noise_std = check_noise_std(noise_std)
        if not 0.0 <= float(adaptive_decay) < 1.0:
            raise ValueError(f"adaptive_decay must lie in [0, 1), got {adaptive_decay}")
        self.adaptive_decay = float(adaptive_decay)
        n = len(self.shapes)
        self.register_buffer("grad_ema", torch.zeros(n, device=device, dtype=torch.float32))
        self.register_buffer("grad_ref", torch.zeros(n, device=device, dtype=torch.float32))

    @property
    def noise_scale(self) -> Tensor:
        """``(num_components,)`` the current σ of each component's noise."""
        ratio = torch.where(self.grad_ref > 0, self.grad_ema / self.grad_ref.clamp_min(1e-30), 1.0)
        return self.noise_std * ratio

    @torch.no_grad()
    def observe(self, i: int, grad: Tensor, batch_size: int | None) -> None:
        """Update the running error of component ``i`` from ``grad`` (the state's gradient)."""
        if batch_size is None:
            per_seq = grad.reshape(1, -1)
            b = 1
        else:
            per_seq = grad.movedim(self.batch_dim, 0).reshape(batch_size, -1)
            b = batch_size
        err = (per_seq.float() * b).pow(2).mean(dim=1).sqrt().mean()
        ref, ema = self.grad_ref[i], self.grad_ema[i]
        first = (ref == 0) & (err > 0)
        # Branch-free so that no host sync is needed on an accelerator.
        ref.copy_(torch.where(first, err, ref))
        new = torch.where(first, err, self.adaptive_decay * ema + (1 - self.adaptive_decay) * err)
        ema.copy_(torch.where(ref > 0, new, ema))

    def component(self, i, batch_size, dtype, device) -> Tensor | None:
        if not self.training:
            return super().component(i, batch_size, dtype, device)
        p = self._param(i, dtype)
        shape = self.batched_shape(i, batch_size)
        noise = torch.randn(shape, dtype=dtype, device=device)
        base = p if batch_size is None else p.unsqueeze(self.batch_dim)
        state = torch.addcmul(base, noise, self.noise_scale[i].to(dtype))
        if state.requires_grad:
            state.register_hook(lambda g, i=i, b=batch_size: self.observe(i, g, b))
        return state

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}, adaptive_decay={self.adaptive_decay}"
