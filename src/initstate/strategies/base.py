"""The strategy interface: a small module that produces a recurrent module's initial state.

A recurrent module's state has one or more *components*: ``h`` for ``RNN``/``GRU``, ``(h, c)`` for
``LSTM``. Each component has a fixed shape without the batch dimension, e.g. ``(D*num_layers, H)``
for ``nn.LSTM``'s ``h0`` or ``(H,)`` for a cell. A strategy turns a batch size into one tensor per
component, inserting the batch dimension at ``batch_dim`` (1 for the ``nn.RNN`` family, 0 for the
cells), or returns the unbatched shape when ``batch_size`` is ``None``.

Strategies compose with any recurrent core instead of being copied into each one (the design of
Sonnet's ``TrainableState``), and a per-component ``mask`` pins chosen components to zero, e.g.
``mask=(True, False)`` learns ``h0`` of an LSTM but keeps ``c0`` at zero.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import Tensor, nn

STRATEGIES: dict[str, type[InitialState]] = {}


def register(name: str):
    """Class decorator adding a strategy to :data:`STRATEGIES` under ``name``."""

    def deco(cls: type[InitialState]) -> type[InitialState]:
        cls.name = name
        STRATEGIES[name] = cls
        return cls

    return deco


class InitialState(nn.Module):
    """Base class of the initial-state strategies.

    Args:
        shapes: one shape per state component, without the batch dimension.
        batch_dim: where :meth:`forward` inserts the batch dimension.
        names: one name per component (``"h0"``, ``"c0"``); used for parameter and buffer names.
        mask: one bool per component; ``False`` keeps that component at zero. Default: all ``True``.

    Shape:
        - Output: a tuple with one entry per component. For shape ``S = (s_0, ..., s_k)`` and
          ``batch_dim = d`` the entry is ``S[:d] + (B,) + S[d:]``, or ``S`` when ``batch_size`` is
          ``None``. An entry may be ``None``, meaning "all zeros": torch.nn then builds the zeros
          itself, which keeps the ``zero`` strategy exactly as fast as torch.nn.
    """

    name: str = "base"

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
        if mask is None:
            mask = [True] * len(self.shapes)
        mask = [bool(m) for m in mask]
        if len(mask) != len(self.shapes) or len(self.names) != len(self.shapes):
            raise ValueError(
                f"mask and names need one entry per state component ({self.names}), got mask={mask}"
            )
        self.mask = mask

    def batched_shape(self, i: int, batch_size: int | None) -> tuple[int, ...]:
        shape = self.shapes[i]
        if batch_size is None:
            return shape
        return shape[: self.batch_dim] + (int(batch_size),) + shape[self.batch_dim :]

    def component(
        self, i: int, batch_size: int | None, dtype: torch.dtype, device: torch.device
    ) -> Tensor | None:
        """Component ``i`` of the state, or ``None`` for zeros. Subclasses override this."""
        return None

    def forward(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor | None, ...]:
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        device = torch.device(device) if device is not None else torch.device("cpu")
        return tuple(
            self.component(i, batch_size, dtype, device) if self.mask[i] else None
            for i in range(len(self.shapes))
        )

    def materialize(
        self,
        batch_size: int | None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, ...]:
        """Like :meth:`forward` but with every ``None`` replaced by a zeros tensor."""
        return self.fill_zeros(self(batch_size, dtype, device), batch_size, dtype, device)

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

    def extra_repr(self) -> str:
        mask = "" if all(self.mask) else f", mask={tuple(self.mask)}"
        return f"shapes={self.shapes}, batch_dim={self.batch_dim}{mask}"


def check_noise_std(noise_std: float) -> float:
    noise_std = float(noise_std)
    if not noise_std >= 0.0:  # also rejects NaN
        raise ValueError(f"noise_std must be a non-negative number, got {noise_std}")
    return noise_std


def build_strategy(
    init: str | InitialState,
    shapes: Sequence[Sequence[int]],
    batch_dim: int,
    names: Sequence[str] | None = None,
    **options,
) -> InitialState:
    """Build the strategy called ``init`` (a name in :data:`STRATEGIES`) for the given shapes.

    ``options`` (``noise_std``, ``mask``, ``learned_init``, ``adaptive_decay``, ``device``,
    ``dtype``...) are passed to the strategy when its constructor takes them and ignored otherwise,
    so every recurrent class can forward the same keywords. An :class:`InitialState` instance is
    returned unchanged (after a shape check), which lets users plug in their own strategy.
    """
    if "noise_std" in options:
        options["noise_std"] = check_noise_std(options["noise_std"])
    if isinstance(init, InitialState):
        if [tuple(s) for s in shapes] != init.shapes or init.batch_dim != batch_dim:
            raise ValueError(
                f"strategy {init!r} was built for shapes {init.shapes} (batch_dim={init.batch_dim}),"
                f" this module needs {[tuple(s) for s in shapes]} (batch_dim={batch_dim})"
            )
        return init
    if init not in STRATEGIES:
        raise ValueError(f"unknown init {init!r}; valid choices: {', '.join(STRATEGIES)}")
    cls = STRATEGIES[init]
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted}
    return cls(shapes, batch_dim, names=names, **kwargs)
