"""Helpers for a study's README findings: each line is read from a committed table, so the README
never re-types a number (a test regenerates the README's block and compares)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .fmt import pct

__all__ = ["by_verdict", "effect", "read"]


def read(results: Path, name: str) -> pd.DataFrame:
    """``<results>/<name>.csv`` (empty when absent)."""
    p = Path(results) / f"{name}.csv"
    return pd.read_csv(p) if p.exists() and p.stat().st_size > 1 else pd.DataFrame()


def by_verdict(rows: pd.DataFrame, key: str = "dataset", verdict: str = "verdict") -> str:
    """``contradicted on a, b; negligible on c`` — the ``key`` values grouped by verdict."""
    parts = [f"{v} on {', '.join(map(str, g[key]))}" for v, g in rows.groupby(verdict, sort=False)]
    return "; ".join(parts) if parts else "no verdict"


def effect(est, lo, hi) -> str:
    """``+0.42% [−0.05, +0.89]`` (percentages)."""
    return f"{pct(est)} [{pct(lo)}, {pct(hi)}]"
