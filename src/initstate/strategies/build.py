"""Building a strategy from what a module's user passed (:func:`build_strategy`), and the keyword
check of the drop-in modules (:func:`check_keywords`): the one place where a misspelled option
or one that a strategy ignores is reported. The strategies themselves are :mod:`.base`'s."""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Sequence
from typing import Any

from torch import nn

from .base import (
    CONTRACT,
    OPTION_DEFAULTS,
    STRATEGIES,
    USER_NAMES,
    InitialState,
    check_contract,
    check_decay,
    check_generator,
    check_mask,
    check_noise_std,
)


def build_strategy(
    init: str | InitialState,
    shapes: Sequence[Sequence[int]],
    batch_dim: int,
    names: Sequence[str] | None = None,
    stacklevel: int = 2,
    **options: Any,
) -> InitialState:
    """Build the strategy called ``init`` (a name in :data:`STRATEGIES`) for the given shapes.

    ``options`` (``noise_std``, ``mask``, ``learned_init``, ``adaptive_decay``,
    ``encoder_steps``, ``encoder_hidden``, ``context_size``, ``generator``, ``input_size``, ``state_activations``,
    ``device``, ``dtype``) are validated,
    then passed to the strategy when its constructor names them (all of them to a constructor that
    takes ``**options``). A non-default option the strategy does not
    take has no effect and warns (``UserWarning``, ``stacklevel`` as in :func:`warnings.warn`).
    An :class:`InitialState` instance is returned unchanged after a shape check; options given
    alongside it warn, since it was configured when it was built.
    """
    shapes = [tuple(int(s) for s in shape) for shape in shapes]
    if "noise_std" in options:
        options["noise_std"] = check_noise_std(options["noise_std"])
    if "adaptive_decay" in options:
        options["adaptive_decay"] = check_decay(options["adaptive_decay"])
    if "generator" in options:
        check_generator(options["generator"])
    if options.get("mask") is not None:
        options["mask"] = check_mask(options["mask"], names or [f"s{i}" for i in range(len(shapes))])
    given = {k: v for k, v in options.items() if k in OPTION_DEFAULTS and not _is_default(k, v)}
    if isinstance(init, InitialState):
        for k, v in given.items():
            _warn(f"{USER_NAMES.get(k, k)}={v!r} is ignored when init is a strategy instance "
                  f"({type(init).__name__}); pass it to the strategy's constructor", stacklevel)
        if shapes != init.shapes or init.batch_dim != batch_dim:
            raise ValueError(
                f"strategy {init!r} was built for shapes {init.shapes} (batch_dim={init.batch_dim}),"
                f" this module needs {shapes} (batch_dim={batch_dim})"
            )
        return init
    if isinstance(init, type) and issubclass(init, InitialState):
        raise ValueError(
            f"init={init.__name__} is a strategy class; pass an instance built for this module "
            f"(init={init.__name__}(shapes, batch_dim, ...)) or register it "
            f"(@initstate.register('name')) and pass init='name'; valid names: {', '.join(STRATEGIES)}"
        )
    if not isinstance(init, str) or init not in STRATEGIES:
        raise ValueError(f"unknown init {init!r}; valid choices: {', '.join(STRATEGIES)}")
    cls = STRATEGIES[init]
    check_contract(cls, init)  # also catches classes put into STRATEGIES by hand
    params = inspect.signature(cls).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    offered = {"names": names, **options}
    kwargs = {k: v for k, v in offered.items() if takes_all or k in params}
    for k, v in given.items():
        if k not in kwargs:
            _warn(f"{USER_NAMES.get(k, k)}={v!r} has no effect with init={init!r} (its constructor "
                  f"does not take {k!r}); it is ignored", stacklevel)
    strategy = cls(shapes, batch_dim, **kwargs)
    if not isinstance(strategy, InitialState) or strategy.shapes != shapes or strategy.batch_dim != batch_dim:
        raise ValueError(
            f"strategy {init!r} built shapes {getattr(strategy, 'shapes', None)} (batch_dim="
            f"{getattr(strategy, 'batch_dim', None)}) but this module needs {shapes} "
            f"(batch_dim={batch_dim}); {CONTRACT}"
        )
    return strategy


def _is_default(key: str, value: Any) -> bool:
    if key == "mask":  # all-True is what None means
        return value is None or all(value)
    if key == "generator":
        return value is None
    return bool(value == OPTION_DEFAULTS[key])


def check_keywords(owner: str, torch_cls: type, kwargs: dict[str, Any], extra: Sequence[str] = ()) -> None:
    """``TypeError`` naming ``owner`` (not ``RNNBase.__init__``) for a keyword torch.nn does not take.

    Args:
        owner: the class the user called, e.g. ``"LSTM"``.
        torch_cls: its torch.nn base, whose constructor keywords are valid.
        kwargs: the keywords left after the strategy options were taken out.
        extra: keywords torch takes that its signature hides (``nn.RNN``'s ``nonlinearity``).
    """
    valid = [*_torch_keywords(torch_cls), *extra]
    for key in kwargs:
        if key not in valid:
            options = ["init", "init_mask", *(k for k in OPTION_DEFAULTS if k != "mask")]
            close = difflib.get_close_matches(key, valid + options, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(
                f"{owner}() got an unexpected keyword argument {key!r}{hint}; torch.nn.{torch_cls.__name__}"
                f" takes {', '.join(valid)}, and the strategy options are {', '.join(options)}"
            )


def _torch_keywords(torch_cls: type) -> list[str]:
    # nn.LSTM/GRU/RNN take (*args, **kwargs) and hand them to RNNBase.__init__(mode, ...).
    init = torch_cls.__init__  # type: ignore[misc]  # the class's own constructor, by design
    params = inspect.signature(init).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        params = inspect.signature(nn.RNNBase.__init__).parameters
    skip = {"self", "mode"}
    return [n for n, p in params.items() if n not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _warn(message: str, stacklevel: int) -> None:
    """Warn at ``stacklevel`` counted from build_strategy (hence the +1 for this helper)."""
    # UserWarning, as torch.nn's "dropout option adds dropout after all but last recurrent layer".
    warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)
