"""``LSTMCell``, ``GRUCell`` and ``RNNCell``: torch.nn's one-step cells with a pluggable h0."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .rnn import _CellMixin, user_keywords
from .strategies import InitialState

__all__ = ["GRUCell", "LSTMCell", "RNNCell"]


class LSTMCell(_CellMixin, nn.LSTMCell):
    r"""One LSTM step, exactly `torch.nn.LSTMCell`, whose initial `(h_0, c_0)` follows a strategy.

    It subclasses `torch.nn.LSTMCell`, takes its arguments in its order and keeps its
    `state_dict` keys (the strategy adds its own under `init_state.`) and forward semantics.
    When called without `hx`, `(h_0, c_0)` comes from the strategy instead of zeros; call it
    without `hx` at the first step of a sequence and with the returned state afterwards.

    Args:
        input_size: `H_in`, the number of features of the input.
        hidden_size: `H`, the number of features in the hidden and cell states.
        bias: if `False`, the cell uses no biases `b_ih`, `b_hh`. Default: `True`.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.
        init: the initial-state strategy: `"zero"` (default, exactly torch.nn), `"noisy"`,
            `"learned"`, `"learned_noisy"`, `"adaptive"`, `"context"`, a name added with
            [`register`][initstate.register], or an [`InitialState`][initstate.InitialState]
            instance built for this cell. `"encoder"` is refused (`ValueError`): it reads a
            sequence's first steps, and a cell sees one step per call.
        noise_std: σ of the Gaussian noise of `noisy`, `learned_noisy` and `adaptive` (its
            starting scale). Default: 0.3 (r2rt's choice).
        init_mask: one bool per state component, `(h, c)`; `False` keeps that component at
            zero. Default: all `True`.
        learned_init: starting value of a learned state, `"zeros"` or `"normal"`
            (N(0, 0.1²)). Default: `"zeros"`.
        adaptive_decay: EMA decay of `adaptive`'s running estimate of the gradient reaching the
            state, in `[0, 1)`. Default: 0.99.
        encoder_steps: accepted for a uniform signature; no cell strategy uses it (it warns
            when not at its default 5).
        encoder_hidden: as `encoder_steps` (default 64).
        context_size: `C`, the size of the per-sequence context vector from which `"context"`
            computes the state (`forward(x, context=c)`, `c` of shape `(B, C)`); required by
            `"context"`, unused by the other strategies. Default: `None`.
        generator: a `torch.Generator` for the noise of `noisy`, `learned_noisy` and
            `adaptive`, for draws independent of the rest of the program. Default: `None`
            (torch's global RNG, whose later draws then shift, as with dropout).

    Inputs:
        - **input**: `(B, H_in)` or `(H_in,)` unbatched.
        - **hx**: optional `(h_0, c_0)`, each `(B, H)` or `(H,)`. Given, it overrides the
          strategy; omitted, the strategy provides it.
        - **context**: optional `(B, C)` or `(C,)` per-sequence vectors, read by
          `init="context"` alone (required there, refused by the other strategies); give it
          at the first step, with `hx=None`. The third parameter: `cell(x, None, c)` works.

    Outputs:
        - **h_1**, **c_1**: the next hidden and cell states, each `(B, H)` or `(H,)`.

    Attributes:
        init_state: the strategy, an [`InitialState`][initstate.InitialState] module.

    Examples:
        >>> import torch, initstate
        >>> cell = initstate.LSTMCell(10, 20, init="learned", learned_init="normal")
        >>> x = torch.randn(6, 3, 10)  # (L, B, H_in), one step per call
        >>> hx = None                  # the first step starts from the learned state
        >>> for x_t in x:
        ...     hx = cell(x_t, hx)
        >>> [tuple(t.shape) for t in hx]
        [(3, 20), (3, 20)]
        >>> torch.equal(cell.initial_state(3)[0][0], cell.init_state.h0.detach())
        True
    """

    @user_keywords
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        init: str | InitialState = "zero",
        noise_std: float = 0.3,
        init_mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        adaptive_decay: float = 0.99,
        encoder_steps: int = 5,
        encoder_hidden: int = 64,
        context_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, device=device, dtype=dtype, init=init,
            noise_std=noise_std, init_mask=init_mask, learned_init=learned_init,
            adaptive_decay=adaptive_decay, encoder_steps=encoder_steps,
            encoder_hidden=encoder_hidden,
            context_size=context_size, generator=generator,
        )


class GRUCell(_CellMixin, nn.GRUCell):
    r"""One GRU step, exactly `torch.nn.GRUCell`, whose initial `h_0` follows a strategy.

    It subclasses `torch.nn.GRUCell`, takes its arguments in its order and keeps its
    `state_dict` keys (the strategy adds its own under `init_state.`) and forward semantics.
    When called without `hx`, `h_0` comes from the strategy instead of zeros.

    Args:
        input_size: `H_in`, the number of features of the input.
        hidden_size: `H`, the number of features in the hidden state.
        bias: if `False`, the cell uses no biases `b_ih`, `b_hh`. Default: `True`.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.
        init: the initial-state strategy: `"zero"` (default, exactly torch.nn), `"noisy"`,
            `"learned"`, `"learned_noisy"`, `"adaptive"`, `"context"`, a name added with
            [`register`][initstate.register], or an [`InitialState`][initstate.InitialState]
            instance built for this cell. `"encoder"` is refused (`ValueError`).
        noise_std: σ of the Gaussian noise of `noisy`, `learned_noisy` and `adaptive` (its
            starting scale). Default: 0.3 (r2rt's choice).
        init_mask: `(h,)`, one bool; `(False,)` keeps the state at zero. Default: `(True,)`.
        learned_init: starting value of a learned state, `"zeros"` or `"normal"`
            (N(0, 0.1²)). Default: `"zeros"`.
        adaptive_decay: EMA decay of `adaptive`'s running estimate of the gradient reaching the
            state, in `[0, 1)`. Default: 0.99.
        encoder_steps: accepted for a uniform signature; no cell strategy uses it (it warns
            when not at its default 5).
        encoder_hidden: as `encoder_steps` (default 64).
        context_size: `C`, the size of the per-sequence context vector from which `"context"`
            computes the state (`forward(x, context=c)`, `c` of shape `(B, C)`); required by
            `"context"`, unused by the other strategies. Default: `None`.
        generator: a `torch.Generator` for the noise of `noisy`, `learned_noisy` and
            `adaptive`, for draws independent of the rest of the program. Default: `None`
            (torch's global RNG, whose later draws then shift, as with dropout).

    Inputs:
        - **input**: `(B, H_in)` or `(H_in,)` unbatched.
        - **hx**: optional `h_0`, `(B, H)` or `(H,)`. Given, it overrides the strategy.
        - **context**: optional `(B, C)` or `(C,)` per-sequence vectors, read by
          `init="context"` alone (required there, refused by the other strategies); give it
          at the first step, with `hx=None`. The third parameter: `cell(x, None, c)` works.

    Outputs:
        - **h_1**: the next hidden state, `(B, H)` or `(H,)`.

    Attributes:
        init_state: the strategy, an [`InitialState`][initstate.InitialState] module.

    Examples:
        >>> import torch, initstate
        >>> cell = initstate.GRUCell(10, 20, init="adaptive")
        >>> h_1 = cell(torch.randn(3, 10))  # (B, H_in); h_0 = learned + adaptive noise
        >>> h_1.shape
        torch.Size([3, 20])
        >>> cell.init_state.noise_scale     # sigma starts at noise_std
        tensor([0.3000])
    """

    @user_keywords
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        init: str | InitialState = "zero",
        noise_std: float = 0.3,
        init_mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        adaptive_decay: float = 0.99,
        encoder_steps: int = 5,
        encoder_hidden: int = 64,
        context_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, device=device, dtype=dtype, init=init,
            noise_std=noise_std, init_mask=init_mask, learned_init=learned_init,
            adaptive_decay=adaptive_decay, encoder_steps=encoder_steps,
            encoder_hidden=encoder_hidden,
            context_size=context_size, generator=generator,
        )


class RNNCell(_CellMixin, nn.RNNCell):
    r"""One Elman RNN step (tanh or ReLU), exactly `torch.nn.RNNCell`, whose `h_0` follows a strategy.

    It subclasses `torch.nn.RNNCell`, takes its arguments in its order and keeps its
    `state_dict` keys (the strategy adds its own under `init_state.`) and forward semantics.
    When called without `hx`, `h_0` comes from the strategy instead of zeros.

    Args:
        input_size: `H_in`, the number of features of the input.
        hidden_size: `H`, the number of features in the hidden state.
        bias: if `False`, the cell uses no biases `b_ih`, `b_hh`. Default: `True`.
        nonlinearity: `"tanh"` or `"relu"`. Default: `"tanh"`.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.
        init: the initial-state strategy: `"zero"` (default, exactly torch.nn), `"noisy"`,
            `"learned"`, `"learned_noisy"`, `"adaptive"`, `"context"`, a name added with
            [`register`][initstate.register], or an [`InitialState`][initstate.InitialState]
            instance built for this cell. `"encoder"` is refused (`ValueError`).
        noise_std: σ of the Gaussian noise of `noisy`, `learned_noisy` and `adaptive` (its
            starting scale). Default: 0.3 (r2rt's choice).
        init_mask: `(h,)`, one bool; `(False,)` keeps the state at zero. Default: `(True,)`.
        learned_init: starting value of a learned state, `"zeros"` or `"normal"`
            (N(0, 0.1²)). Default: `"zeros"`.
        adaptive_decay: EMA decay of `adaptive`'s running estimate of the gradient reaching the
            state, in `[0, 1)`. Default: 0.99.
        encoder_steps: accepted for a uniform signature; no cell strategy uses it (it warns
            when not at its default 5).
        encoder_hidden: as `encoder_steps` (default 64).
        context_size: `C`, the size of the per-sequence context vector from which `"context"`
            computes the state (`forward(x, context=c)`, `c` of shape `(B, C)`); required by
            `"context"`, unused by the other strategies. Default: `None`.
        generator: a `torch.Generator` for the noise of `noisy`, `learned_noisy` and
            `adaptive`, for draws independent of the rest of the program. Default: `None`
            (torch's global RNG, whose later draws then shift, as with dropout).

    Inputs:
        - **input**: `(B, H_in)` or `(H_in,)` unbatched.
        - **hx**: optional `h_0`, `(B, H)` or `(H,)`. Given, it overrides the strategy.
        - **context**: optional `(B, C)` or `(C,)` per-sequence vectors, read by
          `init="context"` alone (required there, refused by the other strategies); give it
          at the first step, with `hx=None`. The third parameter: `cell(x, None, c)` works.

    Outputs:
        - **h_1**: the next hidden state, `(B, H)` or `(H,)`.

    Attributes:
        init_state: the strategy, an [`InitialState`][initstate.InitialState] module.

    Examples:
        >>> import torch, initstate
        >>> cell = initstate.RNNCell(10, 20, nonlinearity="relu", init="noisy").eval()
        >>> x = torch.randn(10)                # unbatched (H_in,)
        >>> h_1 = cell(x)                      # evaluation mode: noisy starts from zeros
        >>> h_1.shape, torch.equal(h_1, cell(x, torch.zeros(20)))
        (torch.Size([20]), True)
    """

    @user_keywords
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        init: str | InitialState = "zero",
        noise_std: float = 0.3,
        init_mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        adaptive_decay: float = 0.99,
        encoder_steps: int = 5,
        encoder_hidden: int = 64,
        context_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, nonlinearity, device=device, dtype=dtype, init=init,
            noise_std=noise_std, init_mask=init_mask, learned_init=learned_init,
            adaptive_decay=adaptive_decay, encoder_steps=encoder_steps,
            encoder_hidden=encoder_hidden,
            context_size=context_size, generator=generator,
        )
