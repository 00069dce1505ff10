"""The strategy interface: a small module that produces a recurrent module's initial state.

A recurrent module's state has one or more *components*: ``h`` for ``RNN``/``GRU``, ``(h, c)`` for
``LSTM``. Each component has a fixed shape without the batch dimension, e.g. ``(D*num_layers, H)``
for ``nn.LSTM``'s ``h0`` or ``(H,)`` for a cell. A strategy turns a batch size into one tensor per
component, inserting the batch dimension at ``batch_dim`` (1 for the ``nn.RNN`` family, 0 for the
cells), or returns the unbatched shape when ``batch_size`` is ``None``.

Strategies compose with any recurrent core instead of being copied into each one (the design of
Sonnet's ``TrainableState``), and a per-component ``mask`` pins chosen components to zero, e.g.
``mask=(True, False)`` learns ``h0`` of an LSTM but keeps ``c0`` at zero.

Constructor contract of every strategy (built-in or registered with :func:`register`)::

    __init__(self, shapes, batch_dim, *, <any of: names, mask, noise_std, learned_init,
             adaptive_decay, encoder_steps, encoder_hidden, context_size, generator, input_size,
             state_activations, device, dtype>)

``shapes`` and ``batch_dim`` come positionally and must reach ``InitialState.__init__``; of the
options, :func:`build_strategy` passes those the constructor names (all of them when it takes
``**options``). A user's option that the constructor does not take has no effect and warns.
``input_size`` (``H_in``), ``state_activations``, ``device`` and ``dtype`` come from the module,
not from the user. ``state_activations`` gives, per component, the range the cell itself keeps
that component in: ``"tanh"`` (bounded in (-1, 1): a tanh RNN's h, an LSTM's h without
projection, a GRU's h), ``"relu"`` (h ≥ 0: a relu RNN) or ``"identity"`` (unbounded: an LSTM's c,
a ``proj_size`` LSTM's h); a strategy that computes the state (``encoder``) matches it.

Data-conditioned strategies (``encoder``) set the class attribute ``needs_input = True``; the
module then also passes its input to :meth:`InitialState.forward` (see there). Every other
strategy is called exactly as before, without the input.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

import torch
from torch import Tensor, nn

# Re-exported (``x as x``, explicit for type checkers): strategies and custom code import the
# checks from here.
from .checks import (
    check_decay as check_decay,
)
from .checks import (
    check_generator as check_generator,
)
from .checks import (
    check_mask as check_mask,
)
from .checks import (
    check_noise_std as check_noise_std,
)
from .checks import (
    check_qconfig as check_qconfig,
)
from .checks import (
    check_rows as check_rows,
)
from .checks import (
    normal as normal,
)
from .checks import (
    quantization_left_float as quantization_left_float,
)

STRATEGIES: dict[str, type[InitialState]] = {}
# Filled by ``initstate.strategies`` once the built-ins are registered; register() protects them.
BUILTINS: set[str] = set()


class StrategyNames(Sequence[str]):
    """A live, read-only view of the strategy names that run on torch.nn's own call, ``forward(x)``
    (``initstate.INIT_CHOICES``): every name in :data:`STRATEGIES` but those whose class sets
    ``needs_context`` (``context`` needs a ``context=`` keyword that a generic caller cannot give).

    A tuple frozen at import would miss the strategies registered later; this view always lists
    the current ones, in registration order, and compares equal to a tuple or list of them.
    """

    @staticmethod
    def _names() -> tuple[str, ...]:
        return tuple(n for n, cls in STRATEGIES.items() if not getattr(cls, "needs_context", False))

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._names()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Sequence, StrategyNames)) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # mutable contents

    def __repr__(self) -> str:
        return repr(self._names())


INIT_CHOICES = StrategyNames()
"""The `init=` names that run on `forward(x)` alone, as a live view (every registered strategy
but `context`, which needs `context=`): `("zero", "noisy", "learned", ...)`."""

# The options every recurrent class forwards, with their defaults. A non-default value that the
# chosen strategy does not take warns (as torch.nn warns about ``dropout`` with one layer).
OPTION_DEFAULTS = {
    "noise_std": 0.3,
    "mask": None,
    "learned_init": "zeros",
    "adaptive_decay": 0.99,
    "encoder_steps": 5,
    "encoder_hidden": 64,
    "context_size": None,
    "generator": None,
}
# The names users write on the recurrent classes (``init_mask=``), for messages.
USER_NAMES = {"mask": "init_mask"}
CONTRACT = (
    "the constructor contract of a strategy is __init__(self, shapes, batch_dim, **options): "
    "shapes and batch_dim positionally, passed on to InitialState.__init__, and any of the "
    "options names, mask, noise_std, learned_init, adaptive_decay, encoder_steps, "
    "encoder_hidden, context_size, generator, input_size, state_activations, device, dtype by keyword"
)
SCRIPT_ERROR = (
    "torch.jit.script is not supported by initstate modules (TorchScript cannot compile a "
    "strategy-dependent forward). Use torch.export.export(model, (x,), dynamic_shapes=...) for a "
    "deployable graph (a dynamic batch works), torch.compile(model) for speed, or "
    "torch.jit.trace(model, x) if you need a TorchScript module."
)


_S = TypeVar("_S", bound="type[InitialState]")


def register(name: str, *, replace: bool = False) -> Callable[[_S], _S]:
    """Class decorator adding a strategy to :data:`STRATEGIES` under ``name``.

    Args:
        name: the ``init=`` string that selects the strategy.
        replace: allow replacing a built-in strategy (``zero``, ``noisy``, ...); refused otherwise.

    Raises:
        ValueError: ``name`` is a built-in and ``replace`` is false.
        TypeError: the class is not an :class:`InitialState` or breaks the constructor contract.
    """

    def deco(cls: _S) -> _S:
        if name in BUILTINS and not replace:
            raise ValueError(
                f"register({name!r}): {name!r} is a built-in strategy; pass replace=True to replace it"
            )
        check_contract(cls, name)
        cls.name = name
        STRATEGIES[name] = cls
        return cls

    return deco


def check_contract(cls: Any, name: str) -> None:
    """Raise ``TypeError`` unless ``cls`` is an InitialState whose constructor takes (shapes, batch_dim)."""
    if not (isinstance(cls, type) and issubclass(cls, InitialState)):
        raise TypeError(f"strategy {name!r}: {cls!r} must be a subclass of initstate.InitialState")
    try:
        inspect.signature(cls).bind([(1,)], 0)  # what build_strategy passes positionally
    except TypeError as e:
        raise TypeError(
            f"strategy {name!r} ({cls.__qualname__}{inspect.signature(cls)}) breaks the constructor "
            f"contract ({e}); {CONTRACT}"
        ) from None


class InitialState(nn.Module):
    """Base class of the initial-state strategies; subclass it for a custom one.

    A strategy is a small module that turns a batch size into one tensor per state component
    (`h` for `RNN`/`GRU` and the cells, `(h, c)` for LSTMs). Subclasses override
    `component(i, batch_size, dtype, device)` (or `forward`), and `reset_parameters()` if they
    have a starting value; [`register`][initstate.register] makes one selectable by name.

    Args:
        shapes: one shape per state component, without the batch dimension (the modules pass
            `(D * num_layers, H)` per component for the `nn.RNN` family, `(H,)` for cells).
        batch_dim: where the batch dimension is inserted: 1 for the `nn.RNN` family, 0 for cells.
        names: one name per component (`"h0"`, `"c0"`), used for parameter names.
        mask: one bool per component (`init_mask` on the modules); `False` keeps that
            component at zero. Default: all `True`.

    Shape:
        - output: a tuple with one entry per component. For shape `S = (s_0, ..., s_k)` and
          `batch_dim = d` the entry is `S[:d] + (B,) + S[d:]`, or `S` when `batch_size` is
          `None`. An entry may be `None`, meaning "all zeros": torch.nn then builds the zeros
          itself, which keeps the `zero` strategy exactly as fast as torch.nn.

    Attributes:
        needs_input: class attribute, `False` here. A strategy that sets it `True` computes the
            state from the module's input: the module then calls
            `forward(batch_size, dtype, device, rows, input=x, lengths=None)` (see `forward`),
            and cells, which see one step per call, refuse it.
        needs_context: class attribute, `False` here. A strategy that sets it `True` computes
            the state from the `context=` argument of the module's `forward`, passed on as
            `forward(batch_size, dtype, device, rows, context=c)` (`init="context"`).

    Examples:
        >>> import torch, initstate
        >>> class Constant(initstate.InitialState):
        ...     def __init__(self, shapes, batch_dim, names=None, mask=None, noise_std=0.3):
        ...         super().__init__(shapes, batch_dim, names, mask)
        ...         self.value = noise_std
        ...     def component(self, i, batch_size, dtype, device):
        ...         shape = self.batched_shape(i, batch_size)  # batch inserted at batch_dim
        ...         return torch.full(shape, self.value, dtype=dtype, device=device)
        >>> gru = initstate.GRU(3, 4, num_layers=2, init=Constant([(2, 4)], batch_dim=1, noise_std=0.5))
        >>> gru.initial_state(3)[:, 0]
        tensor([[0.5000, 0.5000, 0.5000, 0.5000],
                [0.5000, 0.5000, 0.5000, 0.5000]])
    """

    name: str = "base"
    needs_input: bool = False
    needs_context: bool = False

    def __init__(
        self,
        shapes: Sequence[Sequence[int]],
        batch_dim: int,
        names: Sequence[str] | None = None,
        mask: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        self.shapes = [tuple(int(s) for s in shape) for shape in shapes]
        self.batch_dim = int(batch_dim)
        self.names = list(names) if names is not None else [f"s{i}" for i in range(len(shapes))]
        if len(self.names) != len(self.shapes):
            raise ValueError(f"names need one entry per state component, got {self.names} for {self.shapes}")
        self.mask = check_mask(mask, self.names)

    def batched_shape(self, i: int, batch_size: int | None) -> tuple[int, ...]:
        """Component ``i``'s shape with ``batch_size`` inserted at ``batch_dim``.

        ``batch_size`` is used as given, never through ``int()``: under ``torch.export`` it is a
        symbolic size and under ``torch.jit.trace`` a traced one, and ``int()`` would bake the
        example's batch into the graph.
        """
        shape = self.shapes[i]
        if batch_size is None:
            return shape
        return (*shape[: self.batch_dim], batch_size, *shape[self.batch_dim :])

    def component(
        self, i: int, batch_size: int | None, dtype: torch.dtype, device: torch.device
    ) -> Tensor | None:
        """Component ``i`` of the state, or ``None`` for zeros. Subclasses override this."""
        return None

    def reset_parameters(self) -> None:
        """Put the strategy back at its starting value (called by the module's ``reset_parameters``)."""

    def forward(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        rows: Tensor | Sequence[bool] | None = None,
    ) -> tuple[Tensor | None, ...]:
        """One entry per component (see the class docstring).

        Args:
            rows: optional ``(B,)`` bool, ``True`` for the rows that really start from this state
                (truncated BPTT). Checked here; only strategies that learn from the gradient
                reaching the state (``adaptive``) read it.

        A strategy with ``needs_input = True`` takes two more keywords, which the module passes
        only to such strategies (so a custom ``forward(batch_size, dtype, device)`` keeps working):

        - ``input``: the module's input, batch first: a ``(B, L, H_in)`` tensor (a view of what
          the caller passed; ``B = 1`` for unbatched input, with ``batch_size`` ``None``) or a
          ``PackedSequence`` (rows of the result in the caller's order, as ``hx`` is).
        - ``lengths``: optional ``(B,)`` valid steps per row of a tensor ``input``; ``None``: all
          ``L`` steps are real.
        """
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        device = torch.device(device) if device is not None else torch.device("cpu")
        if rows is not None:
            check_rows(rows, batch_size, device)
        return tuple(
            self.component(i, batch_size, dtype, device) if self.mask[i] else None
            for i in range(len(self.shapes))
        )

    def materialize(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        rows: Tensor | Sequence[bool] | None = None,
        input: Any = None,
        lengths: Tensor | Sequence[int] | None = None,
        context: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """Like :meth:`forward` but with every ``None`` replaced by a zeros tensor.

        ``input`` and ``lengths`` (see :meth:`forward`) reach only a strategy with
        ``needs_input``, ``context`` only one with ``needs_context``; the others ignore them.
        """
        # rows and input only when used: a custom forward(batch_size, dtype, device) keeps working.
        kwargs: dict[str, Any] = {} if rows is None else {"rows": rows}
        if self.needs_input:
            kwargs.update(input=input, lengths=lengths)
        if self.needs_context:
            kwargs.update(context=context)
        parts = self(batch_size, dtype, device, **kwargs)
        return self.fill_zeros(parts, batch_size, dtype, device)

    def fill_zeros(
        self,
        parts: Sequence[Tensor | None],
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, ...]:
        """``parts`` (as :meth:`forward` returned them) with each ``None`` made a zeros tensor."""
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        return tuple(
            p if p is not None else torch.zeros(self.batched_shape(i, batch_size), dtype=dtype, device=device)
            for i, p in enumerate(parts)
        )

    def __prepare_scriptable__(self) -> None:
        # torch.jit.script calls this first; fail with advice instead of an unreadable frontend error.
        raise RuntimeError(SCRIPT_ERROR)

    def extra_repr(self) -> str:
        mask = "" if all(self.mask) else f", mask={tuple(self.mask)}"
        return f"shapes={self.shapes}, batch_dim={self.batch_dim}{mask}"

    def diagnostics(self) -> dict[str, Tensor]:
        """Quantities the strategy exposes for monitoring, beyond its parameters.

        Returns:
            ``{quantity: tensor}``, each tensor ``(num_components,)``: entry ``i`` belongs to
            component ``self.names[i]`` (masked components included). Detached copies, so reading
            them never changes the strategy or a graph. Empty here; ``adaptive`` reports
            ``noise_scale`` (its current σ) and ``error_ema`` (the running start-of-sequence error
            that σ follows). Parameters are not repeated: read them with ``named_parameters()``.
        """
        return {}
