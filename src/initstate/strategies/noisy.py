"""``noisy``: a fresh N(0, noise_std²) state per sequence while training, zeros in evaluation (r2rt)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import InitialState, check_generator, check_noise_std, normal, register


@register("noisy")
class Noisy(InitialState):
    """Zero mean, Gaussian initial state.

    Args:
        noise_std: standard deviation σ of the noise; r2rt used 0.3 on every h and c component.
        generator: optional ``torch.Generator`` the noise is drawn from (on the module's device).

    Each row of the batch (each sequence) draws its own noise on every call in training mode; in
    evaluation mode the state is zero.

    **Random numbers.** By default the noise comes from torch's global RNG, like dropout: adding a
    noisy strategy to a model therefore shifts every later draw of the global stream (dropout
    masks, ``randperm`` shuffles) compared with a ``zero`` run of the same seed. Pass
    ``generator=torch.Generator(device).manual_seed(s)`` to draw the noise from a stream of its
    own and leave the global one exactly as without noise. The generator is the caller's: it is
    not moved by ``.to()`` (create it on the device the module runs on), not part of the
    ``state_dict``, and shared with copies of the module. ``torch.func.vmap`` with
    ``randomness="different"`` gives each vmapped sample its own noise (the noise is drawn
    out of place, which vmap requires).
    """

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        noise_std: float = 0.3,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask)
        self.noise_std = check_noise_std(noise_std)
        self.generator = check_generator(generator)

    def component(self, i, batch_size, dtype, device) -> Tensor | None:
        if not self.training or self.noise_std == 0.0:
            return None
        # One kernel, already contiguous (cuDNN rejects a non-contiguous hx), and out of place:
        # vmap(randomness="different") refuses an in-place normal_ on an unbatched tensor.
        return normal(self.noise_std, self.batched_shape(i, batch_size), self.generator, dtype, device)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}"
