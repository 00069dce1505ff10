"""``LSTM``, ``GRU`` and ``RNN``: torch.nn's multi-layer recurrent modules with a pluggable h0."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .rnn import _RNNBaseMixin, user_keywords
from .strategies import InitialState

__all__ = ["GRU", "LSTM", "RNN"]


class LSTM(_RNNBaseMixin, nn.LSTM):
    r"""A multi-layer LSTM, exactly `torch.nn.LSTM`, whose initial `(h_0, c_0)` follows a strategy.

    It subclasses `torch.nn.LSTM`, takes its arguments in its order, keeps its `state_dict`
    keys (the strategy adds its own under `init_state.`) and its forward semantics in every
    argument combination. The one difference: when `forward` gets no `hx`, `(h_0, c_0)` comes
    from the strategy (`init`) instead of zeros; `initial_state(B)` returns what it would use.

    Args:
        input_size: `H_in`, the number of features of each input step.
        hidden_size: `H_cell`, the number of features in the hidden state.
        num_layers: number of stacked recurrent layers. Default: 1.
        bias: if `False`, the layers use no biases `b_ih`, `b_hh`. Default: `True`.
        batch_first: if `True`, input and output are `(B, L, H)` instead of `(L, B, H)` (the
            states are not affected). Default: `False`.
        dropout: probability of dropout on the outputs of every layer but the last. Default: 0.
        bidirectional: if `True`, a bidirectional LSTM (`D = 2`). Default: `False`.
        proj_size: if `> 0`, an LSTM with projections of this size (`H_out = proj_size`).
            Default: 0.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.
        init: the initial-state strategy: `"zero"` (default, exactly torch.nn), `"noisy"`,
            `"learned"`, `"learned_noisy"`, `"adaptive"`, `"encoder"`, `"context"`, a name added with
            [`register`][initstate.register], or an [`InitialState`][initstate.InitialState]
            instance built for this module's state shapes.
        noise_std: σ of the Gaussian noise of `noisy`, `learned_noisy` and `adaptive` (its
            starting scale). Default: 0.3 (r2rt's choice).
        init_mask: one bool per state component, `(h, c)`; `False` keeps that component at
            zero, e.g. `(True, False)` learns `h_0` only. Default: all `True`.
        learned_init: starting value of a learned state, `"zeros"` or `"normal"`
            (N(0, 0.1²)). Default: `"zeros"`.
        adaptive_decay: EMA decay of `adaptive`'s running estimate of the gradient reaching the
            state, in `[0, 1)`. Default: 0.99.
        encoder_steps: `k`, the leading input steps from which `encoder` computes the state.
            Default: 5.
        encoder_hidden: width of `encoder`'s hidden layer. Default: 64.
        context_size: `C`, the size of the per-sequence context vector from which `"context"`
            computes the state (`forward(x, context=c)`, `c` of shape `(B, C)`); required by
            `"context"`, unused by the other strategies. Default: `None`.
        generator: a `torch.Generator` for the noise of `noisy`, `learned_noisy` and
            `adaptive`, for draws independent of the rest of the program. Default: `None`
            (torch's global RNG, whose later draws then shift, as with dropout).

    An option the chosen strategy does not use warns (`UserWarning`) when it is not at its
    default, as torch.nn warns about `dropout` with one layer; an invalid value raises
    `ValueError`.

    Inputs:
        - **input**: `(L, H_in)` unbatched, `(L, B, H_in)`, or `(B, L, H_in)` with
          `batch_first=True`; or a `PackedSequence`.
        - **hx**: optional `(h_0, c_0)`: `h_0` is `(D * num_layers, B, H_out)` and `c_0` is
          `(D * num_layers, B, H_cell)` (no `B` for unbatched input). Given, it overrides the
          strategy; omitted, the strategy provides it.
        - **context**: optional `(B, C)` per-sequence vectors (`(C,)` unbatched), read by
          `init="context"` alone (required there, refused by the other strategies). The third
          parameter: `m(x, None, c)` is `m(x, context=c)`. An explicit `hx` overrides it.

    Outputs:
        - **output**: `(L, D * H_out)` unbatched, `(L, B, D * H_out)`, or `(B, L, D * H_out)`
          with `batch_first=True`; a `PackedSequence` for packed input.
        - **h_n**: `(D * num_layers, B, H_out)`, the final hidden state of every layer.
        - **c_n**: `(D * num_layers, B, H_cell)`, the final cell state of every layer.

        `D` is 2 if `bidirectional` else 1; `H_out` is `proj_size` if it is `> 0`, else
        `hidden_size`.

    Attributes:
        init_state: the strategy, an [`InitialState`][initstate.InitialState] module (its
            parameters, e.g. `init_state.h0` of shape `(D * num_layers, H_out)` for `learned`,
            train with the LSTM's).

    Examples:
        >>> import torch, initstate
        >>> lstm = initstate.LSTM(10, 20, num_layers=2, init="learned")
        >>> output, (h_n, c_n) = lstm(torch.randn(5, 3, 10))  # (L, B, H_in); h_0, c_0 learned
        >>> output.shape, h_n.shape, c_n.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]), torch.Size([2, 3, 20]))
        >>> h_0, c_0 = lstm.initial_state(3)  # what forward used: the learned state, zeros at first
        >>> h_0.shape, bool((h_0 == 0).all())
        (torch.Size([2, 3, 20]), True)
        >>> [name for name, _ in lstm.init_state.named_parameters()]
        ['h0', 'c0']
    """

    @user_keywords
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
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
            input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, proj_size=proj_size, device=device,
            dtype=dtype, init=init, noise_std=noise_std, init_mask=init_mask,
            learned_init=learned_init, adaptive_decay=adaptive_decay,
            encoder_steps=encoder_steps, encoder_hidden=encoder_hidden,
            context_size=context_size, generator=generator,
        )


class GRU(_RNNBaseMixin, nn.GRU):
    r"""A multi-layer GRU, exactly `torch.nn.GRU`, whose initial `h_0` follows a strategy.

    It subclasses `torch.nn.GRU`, takes its arguments in its order, keeps its `state_dict` keys
    (the strategy adds its own under `init_state.`) and its forward semantics in every argument
    combination. The one difference: when `forward` gets no `hx`, `h_0` comes from the strategy
    (`init`) instead of zeros; `initial_state(B)` returns what it would use.

    Args:
        input_size: `H_in`, the number of features of each input step.
        hidden_size: `H_out`, the number of features in the hidden state.
        num_layers: number of stacked recurrent layers. Default: 1.
        bias: if `False`, the layers use no biases `b_ih`, `b_hh`. Default: `True`.
        batch_first: if `True`, input and output are `(B, L, H)` instead of `(L, B, H)` (the
            state is not affected). Default: `False`.
        dropout: probability of dropout on the outputs of every layer but the last. Default: 0.
        bidirectional: if `True`, a bidirectional GRU (`D = 2`). Default: `False`.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.
        init: the initial-state strategy: `"zero"` (default, exactly torch.nn), `"noisy"`,
            `"learned"`, `"learned_noisy"`, `"adaptive"`, `"encoder"`, `"context"`, a name added with
            [`register`][initstate.register], or an [`InitialState`][initstate.InitialState]
            instance built for this module's state shape.
        noise_std: σ of the Gaussian noise of `noisy`, `learned_noisy` and `adaptive` (its
            starting scale). Default: 0.3 (r2rt's choice).
        init_mask: one bool for the one state component, `(h,)`; `(False,)` keeps it at zero.
            Default: `(True,)`.
        learned_init: starting value of a learned state, `"zeros"` or `"normal"`
            (N(0, 0.1²)). Default: `"zeros"`.
        adaptive_decay: EMA decay of `adaptive`'s running estimate of the gradient reaching the
            state, in `[0, 1)`. Default: 0.99.
        encoder_steps: `k`, the leading input steps from which `encoder` computes the state.
            Default: 5.
        encoder_hidden: width of `encoder`'s hidden layer. Default: 64.
        context_size: `C`, the size of the per-sequence context vector from which `"context"`
            computes the state (`forward(x, context=c)`, `c` of shape `(B, C)`); required by
            `"context"`, unused by the other strategies. Default: `None`.
        generator: a `torch.Generator` for the noise of `noisy`, `learned_noisy` and
            `adaptive`, for draws independent of the rest of the program. Default: `None`
            (torch's global RNG, whose later draws then shift, as with dropout).

    An option the chosen strategy does not use warns (`UserWarning`) when it is not at its
    default; an invalid value raises `ValueError`.

    Inputs:
        - **input**: `(L, H_in)` unbatched, `(L, B, H_in)`, or `(B, L, H_in)` with
          `batch_first=True`; or a `PackedSequence`.
        - **hx**: optional `h_0`, `(D * num_layers, B, H_out)` (`(D * num_layers, H_out)`
          unbatched). Given, it overrides the strategy; omitted, the strategy provides it.
        - **context**: optional `(B, C)` per-sequence vectors (`(C,)` unbatched), read by
          `init="context"` alone (required there, refused by the other strategies). The third
          parameter: `m(x, None, c)` is `m(x, context=c)`. An explicit `hx` overrides it.

    Outputs:
        - **output**: `(L, D * H_out)` unbatched, `(L, B, D * H_out)`, or `(B, L, D * H_out)`
          with `batch_first=True`; a `PackedSequence` for packed input.
        - **h_n**: `(D * num_layers, B, H_out)`, the final hidden state of every layer.

        `D` is 2 if `bidirectional` else 1.

    Attributes:
        init_state: the strategy, an [`InitialState`][initstate.InitialState] module.

    Examples:
        >>> import torch, initstate
        >>> gru = initstate.GRU(10, 20, batch_first=True, init="noisy", noise_std=0.5)
        >>> output, h_n = gru(torch.randn(3, 5, 10))  # (B, L, H_in); h_0 ~ N(0, 0.5²) per row
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 20]), torch.Size([1, 3, 20]))
        >>> bool((gru.initial_state(3) != 0).all())  # training mode: fresh noise
        True
        >>> bool((gru.eval().initial_state(3) == 0).all())  # evaluation mode: zeros
        True
    """

    @user_keywords
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
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
            input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, device=device, dtype=dtype,
            init=init, noise_std=noise_std, init_mask=init_mask, learned_init=learned_init,
            adaptive_decay=adaptive_decay, encoder_steps=encoder_steps,
            encoder_hidden=encoder_hidden,
            context_size=context_size, generator=generator,
        )


class RNN(_RNNBaseMixin, nn.RNN):
    r"""A multi-layer Elman RNN (tanh or ReLU), exactly `torch.nn.RNN`, whose `h_0` follows a strategy.

    It subclasses `torch.nn.RNN`, takes its arguments in its order, keeps its `state_dict` keys
    (the strategy adds its own under `init_state.`) and its forward semantics in every argument
    combination. The one difference: when `forward` gets no `hx`, `h_0` comes from the strategy
    (`init`) instead of zeros; `initial_state(B)` returns what it would use.

    Args:
        input_size: `H_in`, the number of features of each input step.
        hidden_size: `H_out`, the number of features in the hidden state.
        num_layers: number of stacked recurrent layers. Default: 1.
        nonlinearity: `"tanh"` or `"relu"`. Default: `"tanh"`.
        bias: if `False`, the layers use no biases `b_ih`, `b_hh`. Default: `True`.
        batch_first: if `True`, input and output are `(B, L, H)` instead of `(L, B, H)` (the
            state is not affected). Default: `False`.
        dropout: probability of dropout on the outputs of every layer but the last. Default: 0.
        bidirectional: if `True`, a bidirectional RNN (`D = 2`). Default: `False`.
        device: device of the parameters, as in torch.nn.
        dtype: dtype of the parameters, as in torch.nn.
        init: the initial-state strategy: `"zero"` (default, exactly torch.nn), `"noisy"`,
            `"learned"`, `"learned_noisy"`, `"adaptive"`, `"encoder"`, `"context"`, a name added with
            [`register`][initstate.register], or an [`InitialState`][initstate.InitialState]
            instance built for this module's state shape.
        noise_std: σ of the Gaussian noise of `noisy`, `learned_noisy` and `adaptive` (its
            starting scale). Default: 0.3 (r2rt's choice).
        init_mask: one bool for the one state component, `(h,)`; `(False,)` keeps it at zero.
            Default: `(True,)`.
        learned_init: starting value of a learned state, `"zeros"` or `"normal"`
            (N(0, 0.1²)). Default: `"zeros"`.
        adaptive_decay: EMA decay of `adaptive`'s running estimate of the gradient reaching the
            state, in `[0, 1)`. Default: 0.99.
        encoder_steps: `k`, the leading input steps from which `encoder` computes the state.
            Default: 5.
        encoder_hidden: width of `encoder`'s hidden layer. Default: 64.
        context_size: `C`, the size of the per-sequence context vector from which `"context"`
            computes the state (`forward(x, context=c)`, `c` of shape `(B, C)`); required by
            `"context"`, unused by the other strategies. Default: `None`.
        generator: a `torch.Generator` for the noise of `noisy`, `learned_noisy` and
            `adaptive`, for draws independent of the rest of the program. Default: `None`
            (torch's global RNG, whose later draws then shift, as with dropout).

    An option the chosen strategy does not use warns (`UserWarning`) when it is not at its
    default; an invalid value raises `ValueError`.

    Inputs:
        - **input**: `(L, H_in)` unbatched, `(L, B, H_in)`, or `(B, L, H_in)` with
          `batch_first=True`; or a `PackedSequence`.
        - **hx**: optional `h_0`, `(D * num_layers, B, H_out)` (`(D * num_layers, H_out)`
          unbatched). Given, it overrides the strategy; omitted, the strategy provides it.
        - **context**: optional `(B, C)` per-sequence vectors (`(C,)` unbatched), read by
          `init="context"` alone (required there, refused by the other strategies). The third
          parameter: `m(x, None, c)` is `m(x, context=c)`. An explicit `hx` overrides it.

    Outputs:
        - **output**: `(L, D * H_out)` unbatched, `(L, B, D * H_out)`, or `(B, L, D * H_out)`
          with `batch_first=True`; a `PackedSequence` for packed input.
        - **h_n**: `(D * num_layers, B, H_out)`, the final hidden state of every layer.

        `D` is 2 if `bidirectional` else 1.

    Attributes:
        init_state: the strategy, an [`InitialState`][initstate.InitialState] module.

    Examples:
        >>> import torch, initstate
        >>> rnn = initstate.RNN(4, 8, nonlinearity="relu", init="encoder", encoder_steps=3)
        >>> x = torch.randn(6, 2, 4)  # (L, B, H_in)
        >>> output, h_n = rnn(x)      # h_0 computed from each sequence's first 3 steps
        >>> output.shape, h_n.shape
        (torch.Size([6, 2, 8]), torch.Size([1, 2, 8]))
        >>> h_0 = rnn.initial_state(input=x)  # what forward used
        >>> torch.equal(rnn(x, h_0)[0], output)
        True
    """

    @user_keywords
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
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
        # nonlinearity by keyword: torch.nn.RNN reads a fourth positional argument as it.
        super().__init__(
            input_size, hidden_size, num_layers, nonlinearity=nonlinearity, bias=bias,
            batch_first=batch_first, dropout=dropout, bidirectional=bidirectional, device=device,
            dtype=dtype, init=init, noise_std=noise_std, init_mask=init_mask,
            learned_init=learned_init, adaptive_decay=adaptive_decay,
            encoder_steps=encoder_steps, encoder_hidden=encoder_hidden,
            context_size=context_size, generator=generator,
        )
