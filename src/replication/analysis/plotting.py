"""Plotting primitives every study's figures share (matplotlib, Agg, PNG): one colour per strategy
across every figure, the per-dataset panel grid, mean ± 95% t-interval bands over seeds, and an atomic
save. Study figures live with their study (e.g. :mod:`replication.studies.claims.figures`); each
returns ``None`` when its table holds nothing to draw, rather than failing."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .stats import mean_ci  # noqa: E402

__all__ = ["COLORS", "COMPARISON_COLORS", "LOSS_UNITS", "ORDER", "band", "color", "finished", "grid_axes",
           "ordered_labels", "panel", "plt", "save"]

# One colour per arm in every figure of every study (the conditioned arms reuse the hues of the
# strategies they are closest to: the encoder adapts like adaptive, a warm-up discards like noise).
COLORS = {"zero": "#444444", "noisy": "#1f77b4", "learned": "#d62728", "learned_noisy": "#ff7f0e",
          "adaptive": "#2ca02c", "encoder": "#2ca02c", "zero_warmup": "#1f77b4"}
ORDER = list(COLORS)
COMPARISON_COLORS = {"better": "#4daf4a", "worse": "#e41a1c", "negligible": "#3182bd", "inconclusive": "#888888"}
LOSS_UNITS = {"lm": "cross-entropy (nats/token)", "forecast": "MSE (train-normalised units)",
              "classify": "cross-entropy (nats/sequence)"}


def color(label: str) -> str:
    """The colour of an arm; a grid point ``noisy_s0.1`` takes its strategy's."""
    base = label.split("_s")[0] if label not in COLORS else label
    return COLORS.get(base, "#9467bd")


def finished(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The curves of runs that did not diverge (a diverged run's NaN or huge losses would swamp a mean)."""
    ok = runs.loc[~runs["diverged"].astype(bool), ["dataset", "label", "seed"]]
    return curves.merge(ok, on=["dataset", "label", "seed"])


def ordered_labels(present, order=ORDER) -> list[str]:
    """The distinct labels of ``present`` (a column or a DataFrame with ``label``): those in ``order``
    first, in that order, then the rest sorted."""
    if isinstance(present, pd.DataFrame):
        present = present["label"]
    seen = list(dict.fromkeys(present))
    return [s for s in order if s in seen] + sorted(s for s in seen if s not in order)


def grid_axes(n: int, w: float = 4.2, h: float = 3.2):
    """``(fig, axes)``: ``n`` panels, at most 4 a row, the unused ones hidden; ``axes`` is a list."""
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def panel(ax, runs: pd.DataFrame, ds: str, xlabel: str, ylabel: str) -> None:
    """Title a per-dataset panel and label its axes; ``ylabel`` may use ``{units}`` (e.g.
    "MSE (train-normalised units)") and ``{loss}`` (e.g. "MSE") of the dataset's task."""
    task = runs.loc[runs["dataset"] == ds, "task"]
    units = LOSS_UNITS.get(task.iloc[0] if len(task) else None, "loss (units)")
    ax.set_title(ds)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel.format(units=units, loss=units.split(" (")[0]), fontsize=8)
    ax.grid(alpha=0.3)


def band(ax, df: pd.DataFrame, col: str, color_, *, x: str = "epoch", offset: int = 1, style: str = "-",
         label: str | None = None, lw: float = 1.4, spread: str = "ci", alpha: float = 0.15):
    """The mean over seeds of ``col`` per value of ``x`` (drawn at ``x + offset``: epochs are 0-based in
    the records, 1-based on the axes) with a band: the 95% t-interval (``spread="ci"``; a single seed
    draws no band) or the range over seeds (``"range"``: for a log axis, where a t-interval of a few
    seeds would reach below 0), or none (``"none"``: the line alone). Returns the line, or None when ``col`` holds nothing."""
    v = df[[x, col]].dropna()
    if v.empty:
        return None
    if spread == "range":
        agg = v.groupby(x)[col].agg(["mean", "min", "max"])
        xs, m, lo, hi = agg.index.to_numpy(), agg["mean"].to_numpy(), agg["min"].to_numpy(), agg["max"].to_numpy()
    else:
        stats_ = [(k, *mean_ci(g)[:3]) for k, g in v.groupby(x)[col]]
        xs, m, lo, hi = (np.array(a, dtype=float) for a in zip(*stats_))
        lo, hi = np.where(np.isfinite(lo), lo, m), np.where(np.isfinite(hi), hi, m)
    (line,) = ax.plot(xs + offset, m, style, color=color_, label=label, lw=lw)
    if spread != "none":
        ax.fill_between(xs + offset, lo, hi, color=color_, alpha=alpha, lw=0)
    return line


def save(fig, path: Path, tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` (PNG) through a temporary file, so a kill never leaves half a figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
