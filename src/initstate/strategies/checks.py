"""Validation of the strategy options and of what torch hands the modules, one-line errors each.

Also the guard against ``torch.ao.quantization``, which swaps modules by exact type and would
keep an initstate module in floating point without a word.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor


def _real(name: str, value: Any, rule: str) -> float:
    """``value`` as a float if it is a real number (not a bool, string or tensor), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number ({rule}), got {value!r} of type {type(value).__name__}")
    return float(value)


def check_noise_std(noise_std: Any) -> float:
    """``noise_std`` as a float; ``ValueError`` unless it is a finite real number ``>= 0``.

    Strings (``"0.3"``) and bools are refused rather than converted: a config typo must not
    silently become σ = 1.0 (``True``) or parse by luck.
    """
    value = _real("noise_std", noise_std, "a non-negative finite float")
    if not (value >= 0.0 and math.isfinite(value)):  # also rejects NaN and inf
        raise ValueError(f"noise_std must be a non-negative finite number, got {noise_std!r}")
    return value


def check_decay(decay: Any) -> float:
    """``adaptive_decay`` as a float in ``[0, 1)``; ``ValueError`` otherwise."""
    value = _real("adaptive_decay", decay, "in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"adaptive_decay must lie in [0, 1), got {decay!r}")
    return value


def normal(
    std: float,
    shape: Sequence[int],
    generator: torch.Generator | None,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
) -> Tensor:
    """A fresh ``N(0, std²)`` tensor of ``shape``: one out-of-place kernel (vmap-safe).

    ``generator`` is passed only when given: ``generator=None`` spelled out selects an overload
    that torch.compile cannot trace with a symbolic (dynamic) batch size.
    """
    if generator is None:
        return torch.normal(0.0, std, shape, dtype=dtype, device=device)
    return torch.normal(0.0, std, shape, generator=generator, dtype=dtype, device=device)


def check_generator(generator: Any) -> torch.Generator | None:
    """``generator`` unchanged if it is ``None`` or a ``torch.Generator``; ``TypeError`` otherwise."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    return generator


def check_mask(mask: Any, names: Sequence[str]) -> list[bool]:
    """``mask`` (``init_mask``) as a list of bools, one per component; ``ValueError`` otherwise."""
    if mask is None:
        return [True] * len(names)
    if isinstance(mask, Tensor) and mask.dtype == torch.bool and mask.dim() == 1:
        mask = mask.tolist()
    # numpy.bool_ is accepted by name (the library imports only torch); ints and strings are not.
    ok = isinstance(mask, Iterable) and not isinstance(mask, (str, bytes, Tensor))
    entries = list(mask) if ok else []
    if not ok or not all(isinstance(m, bool) or type(m).__name__ == "bool_" for m in entries):
        raise ValueError(
            f"init_mask must be a sequence of bools, one per state component ({', '.join(names)}),"
            f" got {mask!r}"
        )
    if len(entries) != len(names):
        raise ValueError(f"init_mask needs one entry per state component ({names}), got mask={mask!r}")
    return [bool(m) for m in entries]


def check_rows(
    rows: Tensor | Sequence[bool], batch_size: int | None, device: torch.device | str | None
) -> Tensor:
    """``rows`` as a ``(B,)`` bool tensor on ``device``; ``ValueError`` if its size is not ``B``."""
    if batch_size is None:
        raise ValueError("rows selects batch rows, so it needs a batch_size")
    rows = torch.as_tensor(rows, device=device).to(torch.bool)
    if rows.dim() != 1 or rows.size(0) != batch_size:
        raise ValueError(f"rows must be a (B,) = ({batch_size},) bool mask, got shape {tuple(rows.shape)}")
    return rows


QUANT_WORKAROUND = (
    "what works: quantize a torch.nn module with the same weights and give it this module's state, "
    "ref = torch.nn.{base}(<same arguments>); ref.load_state_dict(m.state_dict(), strict=False); "
    "q = torch.ao.quantization.quantize_dynamic(ref); q(x, m.eval().initial_state(B)) "
    "(init='encoder': m.eval().initial_state(input=x))"
)


def check_qconfig(owner: str, qconfig: Any) -> None:
    """``RuntimeError`` for a quantization config aimed at an initstate module (``None`` passes).

    ``torch.ao.quantization`` (``quantize_dynamic``, ``prepare``/``convert``) swaps modules by their
    exact type, ``nn.LSTM`` and friends, so it would keep an initstate subclass in floating point
    silently, and its ``from_float`` asserts on one given by an explicit mapping.
    """
    if qconfig is not None:
        base = owner if owner in ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell") else "LSTM"
        raise RuntimeError(
            f"{owner}: torch.ao.quantization cannot quantize initstate modules (it swaps only the exact "
            f"torch.nn types) and would leave this one in floating point; {QUANT_WORKAROUND.format(base=base)}"
        )


def quantization_left_float(owner: str) -> None:
    """Warn that ``torch.ao.quantization.convert`` went past this module and left it in float."""
    base = owner if owner in ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell") else "LSTM"
    warnings.warn(
        f"{owner} was left in floating point by torch.ao.quantization, which swaps only the exact "
        f"torch.nn types; if you meant to quantize it, {QUANT_WORKAROUND.format(base=base)}",
        UserWarning,
        stacklevel=3,
    )
