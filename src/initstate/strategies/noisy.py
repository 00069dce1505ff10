"""``noisy``: a fresh N(0, noise_std²) state per sequence while training, zeros in evaluation (r2rt)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import InitialState, check_generator, check_noise_std, normal, register


@register("noisy")
class Noisy(InitialState):
    """A fresh N(0, noise_std²) state per sequence in training mode, zeros in evaluation (r2rt).

    Each row of the batch (each sequence) draws its own noise on every call in training mode; in
    evaluation mode the state is zero, exactly as torch.nn's.

    **Random numbers.** By default the noise comes from torch's global RNG, like dropout: adding a
    noisy strategy to a model therefore shifts every later draw of the global stream (dropout
    masks, `randperm` shuffles) compared with a `zero` run of the same seed. Pass
    `generator=torch.Generator(device).manual_seed(s)` to draw the noise from a stream of its
    own and leave the global one exactly as without noise. The generator is the caller's: it is
    not moved by `.to()` (create it on the device the module runs on), not part of the
    `state_dict`, and shared with copies of the module. `torch.func.vmap` with
    `randomness="different"` gives each vmapped sample its own noise (the noise is drawn
    out of place, which vmap requires).

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        noise_std: standard deviation σ of the noise; r2rt used 0.3 on every h and c component.
            0 gives zeros in training too.
        generator: optional `torch.Generator` the noise is drawn from (on the module's device).
            Default: `None`, torch's global RNG.

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
        >>> g = torch.Generator().manual_seed(1)  # a stream of its own: the global one untouched
        >>> a = initstate.GRU(3, 4, init="noisy", generator=g).initial_state(2)
        >>> _ = g.manual_seed(1)
        >>> torch.equal(a, initstate.GRU(3, 4, init="noisy", generator=g).initial_state(2))
        True
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

    def component(
        self, i: int, batch_size: int | None, dtype: torch.dtype, device: torch.device
    ) -> Tensor | None:
        if not self.training or self.noise_std == 0.0:
            return None
        # One kernel, already contiguous (cuDNN rejects a non-contiguous hx), and out of place:
        # vmap(randomness="different") refuses an in-place normal_ on an unbatched tensor.
        return normal(self.noise_std, self.batched_shape(i, batch_size), self.generator, dtype, device)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}"
