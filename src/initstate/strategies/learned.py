"""``learned`` and ``learned_noisy``: a trainable state vector broadcast over the batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import InitialState, check_generator, check_noise_std, normal, register

LEARNED_INITS = ("zeros", "normal")


@register("learned")
class Learned(InitialState):
    """A trainable initial state, the same for every sequence, in training and evaluation.

    One `nn.Parameter` per unmasked component, broadcast over the batch (a contiguous copy,
    as cuDNN requires); it trains with the module's weights (`init="learned"`).

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        learned_init: `"zeros"` (default) or `"normal"` (N(0, 0.1²)) for the starting value.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.

    Attributes:
        h0: the learned `h_0` (named after `names`; `c0` too for an LSTM), of the component's
            shape: `(D * num_layers, H)` for the `nn.RNN` family, `(H,)` for cells. A masked
            component has `None` here.

    Shape:
        - output: one `(*S[:batch_dim], B, *S[batch_dim:])` tensor per unmasked component of
          shape `S` (`S` when `batch_size` is `None`), `None` (zeros) for a masked one.

    Examples:
        >>> import torch, initstate
        >>> lstm = initstate.LSTM(3, 4, init="learned", init_mask=(True, False))
        >>> lstm.init_state.h0.shape, lstm.init_state.c0   # c0 masked: stays zero
        (torch.Size([1, 4]), None)
        >>> lstm(torch.randn(6, 2, 3))[0].sum().backward()
        >>> lstm.init_state.h0.grad.shape                  # h0 trains with the LSTM
        torch.Size([1, 4])
    """

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask)
        if learned_init not in LEARNED_INITS:
            raise ValueError(
                f"unknown learned_init {learned_init!r}; valid choices: {', '.join(LEARNED_INITS)}"
            )
        self.learned_init = learned_init
        for i, name in enumerate(self.names):
            param = nn.Parameter(torch.empty(self.shapes[i], device=device, dtype=dtype)) if self.mask[i] else None
            self.register_parameter(name, param)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Back to ``learned_init`` (zeros, or fresh N(0, 0.1²) draws)."""
        with torch.no_grad():
            for p in self.states():
                if p is None:
                    continue
                if self.learned_init == "zeros":
                    p.zero_()
                else:
                    p.normal_(0.0, 0.1)

    def states(self) -> list[Tensor | None]:
        """The learned tensors, one per component (``None`` where masked)."""
        return [getattr(self, name) for name in self.names]

    def _param(self, i: int, dtype: torch.dtype) -> Tensor:
        p: Tensor = getattr(self, self.names[i])
        return p if p.dtype == dtype else p.to(dtype)

    def component(
        self, i: int, batch_size: int | None, dtype: torch.dtype, device: torch.device
    ) -> Tensor | None:
        p = self._param(i, dtype)
        if batch_size is None:
            # A copy, so that a caller's in-place edit of initial_state() cannot change the
            # parameter; gradients still flow back through clone().
            return p.clone()
        # expand() is a view; cuDNN needs a contiguous hx, hence the copy.
        return p.unsqueeze(self.batch_dim).expand(self.batched_shape(i, batch_size)).contiguous()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, learned_init={self.learned_init!r}"


@register("learned_noisy")
class LearnedNoisy(Learned):
    """The learned state plus fresh N(0, noise_std²) noise per sequence in training mode (r2rt).

    In evaluation mode the state is the learned one, without noise (`init="learned_noisy"`).

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.
        learned_init: `"zeros"` (default) or `"normal"` (N(0, 0.1²)) for the starting value.
        noise_std: standard deviation σ of the noise added in training mode.
        generator: optional `torch.Generator` the noise is drawn from, as for
            [`Noisy`][initstate.Noisy]. Default: `None`, torch's global RNG.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.

    Attributes:
        h0: the learned `h_0` (and `c0` for an LSTM), as in [`Learned`][initstate.Learned].

    Shape:
        - output: as [`Learned`][initstate.Learned].

    Examples:
        >>> import torch, initstate
        >>> gru = initstate.GRU(3, 4, init="learned_noisy", noise_std=0.3)
        >>> torch.equal(gru.eval().initial_state(2), torch.zeros(1, 2, 4))  # learned, zeros at first
        True
        >>> bool((gru.train().initial_state(2) != 0).all())  # training: + noise
        True
    """

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        noise_std: float = 0.3,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(shapes, batch_dim, names, mask, learned_init, device=device, dtype=dtype)
        self.noise_std = check_noise_std(noise_std)
        self.generator = check_generator(generator)

    def component(
        self, i: int, batch_size: int | None, dtype: torch.dtype, device: torch.device
    ) -> Tensor | None:
        if not self.training or self.noise_std == 0.0:
            return super().component(i, batch_size, dtype, device)
        p = self._param(i, dtype)
        shape = self.batched_shape(i, batch_size)
        noise = normal(self.noise_std, shape, self.generator, dtype, device)
        # Out of place (vmap-safe); the broadcast add yields a fresh contiguous tensor, so no
        # separate expand().contiguous() is needed.
        return torch.add(noise, p if batch_size is None else p.unsqueeze(self.batch_dim))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={self.noise_std}"
