"""What the drop-in ``torch.nn`` recurrent modules share: the strategy keywords and the state.

The public classes are built from these mixins in :mod:`initstate.layers` (``LSTM``, ``GRU``,
``RNN``) and :mod:`initstate.cells` (``LSTMCell``, ``GRUCell``, ``RNNCell``), each with an explicit
signature that repeats the strategy options below (``tests/test_api.py`` keeps them in step).

Every class subclasses the ``torch.nn`` class of the same name, takes exactly its arguments plus the
keyword-only strategy options below, keeps its ``state_dict`` keys (adding the strategy's own under
``init_state.``), and has its exact ``forward`` semantics. The only difference: when ``forward``
gets no ``hx``, the state comes from the strategy instead of zeros (:meth:`initial_state`).

Strategy options (keyword-only, shared by all six classes):
    init: ``"zero"`` (default), ``"noisy"``, ``"learned"``, ``"learned_noisy"``, ``"adaptive"``,
        ``"encoder"`` (``LSTM``/``GRU``/``RNN`` only: the state computed from the input's first
        steps), ``"context"`` (the state computed from a per-sequence vector given to
        ``forward``), or an :class:`~initstate.strategies.InitialState` instance built for this
        module.
    noise_std: σ of the Gaussian noise of the noisy strategies (default 0.3, r2rt's choice).
    init_mask: one bool per state component (``(h, c)`` for LSTMs, ``(h,)`` otherwise); ``False``
        keeps that component at zero, e.g. ``(True, False)`` learns ``h0`` only.
    learned_init: starting value of a learned state, ``"zeros"`` (default) or ``"normal"``.
    adaptive_decay: EMA decay of the ``adaptive`` strategy's gradient estimate (default 0.99).
    encoder_steps: ``k``, the leading input steps the ``encoder`` strategy sees (default 5).
    encoder_hidden: width of the ``encoder``'s hidden layer (default 64). For next-step
        prediction, note that the outputs of the first ``encoder_steps`` steps come from a state
        that has seen those steps' inputs, i.e. their own targets: score from step ``k`` on.
    context_size: ``C`` for ``init="context"``, which computes the state from a ``(B, C)`` vector
        given as ``forward(x, context=c)`` (see :mod:`initstate.strategies.context`).
    generator: a ``torch.Generator`` for the noise of ``noisy``, ``learned_noisy`` and ``adaptive``
        (default ``None``: torch's global RNG, whose later draws then shift, as with dropout).

A non-default option that the chosen strategy does not use (``noise_std`` with ``learned``, any
option next to a strategy instance) warns with a ``UserWarning``, as torch.nn warns about
``dropout`` with one layer; invalid values raise ``ValueError``.

Graph capture: ``torch.compile`` works in every mode; ``torch.export.export`` with a dynamic batch
dimension and ``torch.jit.trace`` work in evaluation mode for every strategy (the batch size is
never turned into a Python ``int``, so it stays symbolic/traced). ``torch.jit.script`` is not
supported and raises one ``RuntimeError`` that points to ``torch.export``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .state import State
from .strategies import STRATEGIES, InitialState, build_strategy
from .strategies.base import SCRIPT_ERROR, check_qconfig, quantization_left_float
from .strategies.build import check_keywords

if TYPE_CHECKING:
    # For the type checker only: the mixins are always combined with these torch.nn bases, whose
    # attributes (hidden_size, parameters(), forward, ...) they use. At run time they derive
    # from object, so the MRO of every public class is exactly (mixins, torch.nn class).
    _ModuleBase = nn.Module
    _RNNBase = nn.RNNBase
    _CellBase = nn.RNNCellBase
else:
    _ModuleBase = _RNNBase = _CellBase = object


def _caller_stacklevel() -> int:
    """``build_strategy``'s ``stacklevel`` for the first frame outside this package.

    Called from ``_InitStateMixin.__init__``. A class's explicit ``__init__`` and the cells' mixin
    add frames between the user and it, so a fixed count would point into initstate for some.
    """
    level = 3  # 3 and frame 2: the caller of _InitStateMixin.__init__
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "initstate":
        level, frame = level + 1, frame.f_back
    return level


def _torch_base(cls: type) -> type:
    """The ``torch.nn`` class that ``cls`` (an initstate module or a user's subclass) extends."""
    return next(c for c in cls.__mro__ if c.__module__.startswith("torch.nn"))


def _extra_keywords(torch_cls: type) -> tuple[str, ...]:
    # nn.RNN takes nonlinearity through **kwargs, so its signature does not show it.
    return ("nonlinearity",) if torch_cls is nn.RNN else ()


_Init = TypeVar("_Init", bound=Callable[..., None])


def user_keywords(init: _Init) -> _Init:
    """Wrap an explicit ``__init__`` so that a misspelled keyword gets ``check_keywords``' error.

    Python's own ``TypeError`` would name ``LSTM.__init__`` and suggest nothing; this one names
    the class and the closest valid keyword. ``inspect.signature`` and ``help`` still show the
    wrapped signature (``functools.wraps`` sets ``__wrapped__``).
    """
    accepted = set(inspect.signature(init).parameters)

    @functools.wraps(init)
    def checked(self: Any, *args: Any, **kwargs: Any) -> None:
        unknown = {k: v for k, v in kwargs.items() if k not in accepted}
        if unknown:
            torch_cls = _torch_base(type(self))
            check_keywords(type(self).__name__, torch_cls, unknown, _extra_keywords(torch_cls))
        init(self, *args, **kwargs)

    return cast(_Init, checked)


class _InitStateMixin(_ModuleBase):
    """Adds the strategy keywords to a torch.nn recurrent class (put it first in the bases)."""

    _batch_dim: int
    init_state: InitialState
    input_size: int

    def __init__(
        self,
        *args: Any,
        init: str | InitialState = "zero",
        noise_std: float = 0.3,
        init_mask: Sequence[bool] | None = None,
        learned_init: str = "zeros",
        adaptive_decay: float = 0.99,
        encoder_steps: int = 5,
        encoder_hidden: int = 64,
        context_size: int | None = None,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        torch_cls = _torch_base(type(self))
        check_keywords(type(self).__name__, torch_cls, kwargs, _extra_keywords(torch_cls))
        super().__init__(*args, **kwargs)
        shapes, names = self._state_layout()
        # device and dtype from the weights torch just built: they may have been given
        # positionally (GRUCell(3, 4, True, "meta")), which kwargs would miss.
        w = self._ref_weight()
        self.init_state = build_strategy(
            init,
            shapes,
            self._batch_dim,
            names=names,
            stacklevel=_caller_stacklevel(),  # warnings point at the user's constructor call
            mask=init_mask,
            noise_std=noise_std,
            learned_init=learned_init,
            adaptive_decay=adaptive_decay,
            encoder_steps=encoder_steps,
            encoder_hidden=encoder_hidden,
            context_size=context_size,
            generator=generator,
            input_size=self.input_size,  # H_in, for strategies that read the input (encoder)
            state_activations=self._state_activations(),  # for strategies that compute a state
            device=w.device,
            dtype=w.dtype,
        )

    def _state_layout(self) -> tuple[list[tuple[int, ...]], list[str]]:
        raise NotImplementedError

    def _check_context(self, context: Tensor | None) -> None:
        if context is not None and not self.init_state.needs_context:
            raise ValueError(
                f"context= is read only by init='context'; this {type(self).__name__} has "
                f"init={self.init_state.name!r}"
            )

    def _ref_weight(self) -> Tensor:
        return next(iter(self.parameters()))

    def _state_activations(self) -> list[str]:
        """Per component, the range the cell keeps it in (see initstate.strategies.base)."""
        h = "relu" if getattr(self, "nonlinearity", "tanh") == "relu" else "tanh"
        h = "identity" if getattr(self, "proj_size", 0) > 0 else h
        return [h, "identity"] if isinstance(self, (nn.LSTM, nn.LSTMCell)) else [h]

    # torch.ao.quantization swaps modules by exact type (nn.LSTM, ...): it would leave this
    # subclass in float without a word. Refuse a qconfig aimed at it; warn when convert() is done.
    @property
    def qconfig(self) -> Any:
        try:
            return self.__dict__["_qconfig"]
        except KeyError:
            raise AttributeError("qconfig") from None  # unset: getattr(m, "qconfig", default) works

    @qconfig.setter
    def qconfig(self, value: Any) -> None:
        check_qconfig(type(self).__name__, value)
        self.__dict__["_qconfig"] = value

    @qconfig.deleter
    def qconfig(self) -> None:
        self.__dict__.pop("_qconfig", None)
        quantization_left_float(type(self).__name__)

    def _batch_and_view(self, input: Tensor | PackedSequence | None) -> tuple[int | None, Any]:
        """``(B or None, input as a needs_input strategy takes it)`` for a forward input."""
        raise NotImplementedError

    def _pack_state(self, parts: Sequence[Tensor]) -> State:
        return tuple(parts) if len(parts) > 1 else parts[0]

    def reset_parameters(self) -> None:
        """Reset torch's weights exactly as torch.nn does, and the strategy to its starting value."""
        strategy = self._modules.get("init_state")
        if strategy is None:  # torch's __init__ calls this before the strategy exists
            # The torch.nn base (RNNBase, RNNCellBase) has it; the type checker's nn.Module does not.
            return super().reset_parameters()  # type: ignore[misc, no-any-return]
        # torch's loop runs over self.parameters(), which would also draw uniform values into
        # init_state.*: hide the strategy while torch resets its own weights.
        del self._modules["init_state"]
        try:
            super().reset_parameters()  # type: ignore[misc]
        finally:
            self._modules["init_state"] = strategy
        strategy.reset_parameters()  # type: ignore[operator]

    def __prepare_scriptable__(self) -> None:
        # torch.jit.script calls this on every module first: one clear error instead of
        # "Unknown type annotation: 'InitialState'".
        raise RuntimeError(f"{type(self).__name__}: {SCRIPT_ERROR}")

    def initial_state(
        self,
        batch_size: int | None = None,
        rows: Tensor | Sequence[bool] | None = None,
        *,
        input: Tensor | PackedSequence | None = None,
        lengths: Tensor | Sequence[int] | None = None,
        context: Tensor | None = None,
    ) -> State:
        """The state used when ``forward`` gets no ``hx``, in the current train/eval mode.

        Args:
            batch_size: ``B``; ``None`` gives the unbatched shapes (or ``B`` comes from ``input``).
            rows: optional ``(B,)`` bool (tensor or list), ``True`` for the rows that will really
                start from this state under truncated BPTT; ``adaptive`` then adapts σ to those
                rows only. :func:`~initstate.reset_rows` does this for you, so it is only needed
                when you mix states by hand. Other strategies ignore it.
            input: optional, what ``forward`` would get (same layout: ``batch_first``, unbatched or
                ``PackedSequence``). Required by ``init="encoder"``, which computes the state from
                its first steps (the first ``k`` steps of a truncated-BPTT chunk); for the other
                strategies it only gives ``B``. ``batch_size``, if also given, must match it.
            lengths: optional ``(B,)`` valid steps per row of a padded tensor ``input``; the
                ``encoder`` masks the steps past them (``forward`` has no lengths: it uses all).
            context: ``(B, C)`` (``(C,)`` unbatched) per-sequence context vectors; required by
                ``init="context"`` and refused by the other strategies.

        Returns:
            For ``LSTM`` a tuple ``(h_0, c_0)`` of shapes ``(D * num_layers, B, H_out)`` and
            ``(D * num_layers, B, H_cell)``; for ``GRU``/``RNN`` one tensor
            ``(D * num_layers, B, H_out)``; for ``LSTMCell`` a tuple of two ``(B, H)`` tensors and
            for ``GRUCell``/``RNNCell`` one ``(B, H)`` tensor. ``B`` is dropped when ``batch_size``
            is ``None`` (or ``input`` is unbatched). Dtype and device follow the module's weights.
            The tensors never alias the strategy's parameters: editing them in place leaves the
            learned state alone.

        Raises:
            ValueError: ``init="encoder"`` without ``input``, ``init="context"`` without a
                ``context`` of the right shape, or ``batch_size`` differs from the input's batch.
        """
        self._check_context(context)
        w = self._ref_weight()
        view = None
        if input is not None:
            batch, view = self._batch_and_view(input)
            if batch_size is not None and batch_size != batch:
                raise ValueError(f"batch_size={batch_size} but the input's batch is {batch}")
            batch_size = batch
        elif lengths is not None:
            raise ValueError("lengths describes an input: pass input= too")
        parts = self.init_state.materialize(
            batch_size, w.dtype, w.device, rows=rows, input=view, lengths=lengths, context=context
        )
        return self._pack_state(parts)

    def _default_hx(
        self,
        batch_size: int | None,
        dtype: torch.dtype,
        device: torch.device,
        input: Tensor | PackedSequence | None = None,
        context: Tensor | None = None,
    ) -> State | None:
        strategy = self.init_state
        if strategy.needs_input:  # a class attribute: static under export, trace and compile
            parts = strategy(batch_size, dtype, device, input=self._batch_and_view(input)[1])
        elif strategy.needs_context:
            parts = strategy(batch_size, dtype, device, context=context)
        else:
            parts = strategy(batch_size, dtype, device)  # custom forward(batch_size, dtype, device)
        if all(p is None for p in parts):
            return None  # torch.nn builds the zeros itself: the zero strategy costs nothing
        return self._pack_state(strategy.fill_zeros(parts, batch_size, dtype, device))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, init={self.init_state.name!r}"


class _RNNBaseMixin(_InitStateMixin, _RNNBase):
    _batch_dim = 1
    weight_ih_l0: Tensor

    def _state_layout(self) -> tuple[list[tuple[int, ...]], list[str]]:
        d = 2 if self.bidirectional else 1
        h_out = self.proj_size if getattr(self, "proj_size", 0) > 0 else self.hidden_size
        if self.mode == "LSTM":
            return [(d * self.num_layers, h_out), (d * self.num_layers, self.hidden_size)], ["h0", "c0"]
        return [(d * self.num_layers, h_out)], ["h0"]

    def _ref_weight(self) -> Tensor:
        return self.weight_ih_l0

    def _batch_and_view(self, input: Tensor | PackedSequence | None) -> tuple[int | None, Any]:
        # Batch first, as a view (no copy): (B, L, H_in), unbatched as B = 1, packed unchanged.
        if isinstance(input, PackedSequence):
            return int(input.batch_sizes[0]), input
        input = cast(Tensor, input)
        if input.dim() == 2:
            return None, input.unsqueeze(0)
        if input.dim() == 3:
            return input.size(0 if self.batch_first else 1), input if self.batch_first else input.transpose(0, 1)
        raise ValueError(f"input must be (L, H_in), 3-D or a PackedSequence, got {tuple(input.shape)}")

    # context is the third parameter, keyword-or-positional: the TorchScript ONNX exporter passes
    # every argument positionally. Any: torch.nn's overloads (Tensor or PackedSequence in, the
    # same out) stay the contract.
    def forward(self, input: Any, hx: Any = None, context: Tensor | None = None) -> Any:
        if context is not None:
            self._check_context(context)
        if hx is None:
            if isinstance(input, PackedSequence):
                # hx is given in the caller's batch order; torch permutes it for packed input.
                batch, ref = int(input.batch_sizes[0]), input.data
            elif input.dim() == 2:
                batch, ref = None, input  # unbatched (L, H_in)
            elif input.dim() == 3:
                # Not int(): under torch.export / jit.trace the batch stays symbolic / traced.
                batch, ref = input.size(0 if self.batch_first else 1), input
            else:
                return super().forward(input, hx)  # torch.nn raises its own ValueError
            hx = self._default_hx(batch, ref.dtype, ref.device, input, context)
        return super().forward(input, hx)


def _cell_error(cls_name: str, init: str) -> str:
    usable = ", ".join(n for n, c in STRATEGIES.items() if not c.needs_input)
    return (
        f"{cls_name}: init={init!r} computes the state from the first steps of a sequence, but a "
        f"cell sees one step per call; use it with LSTM/GRU/RNN, or one of {usable} with cells"
    )


class _CellMixin(_InitStateMixin, _CellBase):
    _batch_dim = 0
    weight_ih: Tensor

    def __init__(self, *args: Any, init: str | InitialState = "zero", **kwargs: Any) -> None:
        strategy = init if isinstance(init, InitialState) else STRATEGIES.get(init)
        if getattr(strategy, "needs_input", False):  # refused before anything is built
            raise ValueError(_cell_error(type(self).__name__, cast(str, getattr(strategy, "name", init))))
        super().__init__(*args, init=init, **kwargs)

    def _state_layout(self) -> tuple[list[tuple[int, ...]], list[str]]:
        if isinstance(self, nn.LSTMCell):
            return [(self.hidden_size,), (self.hidden_size,)], ["h0", "c0"]
        return [(self.hidden_size,)], ["h0"]

    def _ref_weight(self) -> Tensor:
        return self.weight_ih

    def _batch_and_view(self, input: Tensor | PackedSequence | None) -> tuple[int | None, Any]:
        if self.init_state.needs_input:  # e.g. an encoder assigned after construction
            raise ValueError(_cell_error(type(self).__name__, self.init_state.name))
        input = cast(Tensor, input)
        if input.dim() not in (1, 2):
            raise ValueError(f"input must be (H_in,) or (B, H_in), got {tuple(input.shape)}")
        return (None if input.dim() == 1 else input.size(0)), None

    def forward(self, input: Tensor, hx: Any = None, context: Tensor | None = None) -> Any:
        if context is not None:
            self._check_context(context)
        if hx is None:
            if input.dim() not in (1, 2):
                return super().forward(input, hx)  # torch.nn raises its own ValueError
            batch = None if input.dim() == 1 else input.size(0)
            hx = self._default_hx(batch, input.dtype, input.device, context=context)
        return super().forward(input, hx)
