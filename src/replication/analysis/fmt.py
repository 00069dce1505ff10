"""How every report writes numbers: missing values as ``–``, effects as signed percentages, an
estimate with its interval, and Markdown tables. One place, so that the studies' reports agree."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ci", "cell", "count", "finite", "fixed", "num", "pct", "table_md"]


def finite(v) -> bool:
    """Whether ``v`` is a finite number (None, NaN, ±inf and non-numbers are not)."""
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def num(v, digits: int = 3) -> str:
    """``digits`` significant digits, ``–`` when missing."""
    return f"{v:.{digits}g}" if finite(v) else "–"


def fixed(v, digits: int = 1) -> str:
    """``digits`` decimals, ``–`` when missing."""
    return f"{v:.{digits}f}" if finite(v) else "–"


def pct(v) -> str:
    """A signed percentage with two decimals (``+1.23%``), ``–`` when missing."""
    return f"{v:+.2f}%" if finite(v) else "–"


def ci(m, lo, hi, fmt=num) -> str:
    """``m [lo, hi]`` in ``fmt``; ``m`` alone when there is no interval (fewer than 2 seeds)."""
    return f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]" if finite(lo) else fmt(m)


def count(n, noun: str) -> str:
    """``1 paired seed``, ``5 paired seeds``; ``n`` may be a range written as text (``3–5``: plural)."""
    return f"{n} {noun}" if str(n) == "1" else f"{n} {noun}s"


def cell(x) -> str:
    """A table cell: whole floats as integers, missing numbers as –, others to 4 significant digits."""
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "–"
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"
    return str(x)


def table_md(df: pd.DataFrame) -> str:
    """``df`` as a Markdown table (no index), cells written by :func:`cell`."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
