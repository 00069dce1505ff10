"""``noisy``: a fresh N(0, noise_std²) state per sequence while training, zeros in evaluation (r2rt)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import InitialState, check_noise_std, register


@register("noisy")
class Noisy(InitialState):
    """A fresh N(0, noise_std²) state per sequence in training mode, zeros in evaluation (r2rt).

    Each row of the batch (each sequence) draws its own noise on every call in training mode; in
    evaluation mode the state is zero, exactly as torch.nn's. The noise comes from torch's global
    random number generator.

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        noise_std: standard deviation σ of the noise; r2rt used 0.3 on every h and c component.
            0 gives zeros in training too.

    Shape:
        - output: one `(*S[:batch_dim], B, *S[batch_dim:])` tensor per component of shape `S`
          in training mode (`S` when `batch_size` is `None`), `None` (zeros) in evaluation.

    Examples:
        >>> import torch, initstate
        >>> gru = initstate.GRU(3, 4, init="noisy", noise_std=0.3)
        >>> _ = torch.manual_seed(0)
        >>> h_0 = gru.initial_state(10_000)     # (1, B, 4): each row its own draw
        >>> h_0.shape, round(h_0.std().item(), 1)
        (torch.Size([1, 10000, 4]), 0.3)
        >>> gru.eval().init_state(2)            # evaluation: zeros
        (None,)
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

    def component(
        self, i: int, batch_size: int | None, dtype: torch.dtype, device: torch.device
    ) -> Tensor | None:
        if not self.training or self.noise_std == 0.0:
            return None
        # One kernel, already contiguous (cuDNN rejects a non-contiguous hx).
        return torch.empty(self.batched_shape(i, batch_size), dtype=dtype, device=device).normal_(
            0.0, self.noise_std
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}"
