"""``noisy``: a fresh N(0, noise_std²) state per sequence while training, zeros in evaluation (r2rt)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import InitialState, check_noise_std, register


@register("noisy")
class Noisy(InitialState):
    """Zero mean, Gaussian initial state.

    Args:
        noise_std: standard deviation σ of the noise; r2rt used 0.3 on every h and c component.

    Each row of the batch (each sequence) draws its own noise on every call in training mode; in
    evaluation mode the state is zero.
    """

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        noise_std: float = 0.3,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask)
        self.noise_std = check_noise_std(noise_std)

    def component(self, i, batch_size, dtype, device) -> Tensor | None:
        if not self.training or self.noise_std == 0.0:
            return None
        # One kernel, already contiguous (cuDNN rejects a non-contiguous hx).
        return torch.empty(self.batched_shape(i, batch_size), dtype=dtype, device=device).normal_(
            0.0, self.noise_std
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}"
