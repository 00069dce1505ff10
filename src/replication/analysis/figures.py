"""Figures of a sweep (matplotlib, PNG): learning curves, generalization gaps, per-position loss
profiles and the verdict grid. Colours are fixed per strategy across every figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

COLORS = {"zero": "#444444", "noisy": "#1f77b4", "learned": "#d62728", "learned_noisy": "#ff7f0e",
          "adaptive": "#2ca02c"}
ORDER = list(COLORS)
VERDICT_COLORS = {"supported": "#4daf4a", "contradicted": "#e41a1c", "inconclusive": "#cccccc"}
LOSS_UNITS = {"lm": "cross-entropy (nats/token)", "forecast": "MSE (train-normalised units)",
              "classify": "cross-entropy (nats/sequence)"}


def color(label: str) -> str:
    base = label.split("_s")[0] if label not in COLORS else label
    return COLORS.get(base, "#9467bd")


def _labels(df: pd.DataFrame) -> list[str]:
    present = list(df["label"].unique())
    return [s for s in ORDER if s in present] + sorted(s for s in present if s not in ORDER)


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and a 95% t-interval over seeds (the band in the curves)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        m = float(v.mean()) if len(v) else np.nan
        return m, m, m
    h = stats.sem(v) * stats.t.ppf(0.975, len(v) - 1)
    return float(v.mean()), float(v.mean() - h), float(v.mean() + h)


def _grid(n: int, w: float = 4.2, h: float = 3.2):
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _panel(ax, runs: pd.DataFrame, ds: str, xlabel: str, ylabel: str) -> None:
    """Title a per-dataset panel and label its axes; ``ylabel`` may use ``{units}`` (e.g.
    "MSE (train-normalised units)") and ``{loss}`` (e.g. "MSE") of the dataset's task."""
    units = LOSS_UNITS[runs.loc[runs["dataset"] == ds, "task"].iloc[0]]
    ax.set_title(ds)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel.format(units=units, loss=units.split(" (")[0]), fontsize=8)
    ax.grid(alpha=0.3)


def learning_curves(curves: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path:
    """Train (dashed) and val (solid) loss per epoch, mean ± 95% CI over seeds, one panel per dataset."""
    datasets = sorted(curves["dataset"].unique())
    fig, axes = _grid(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = curves[curves["dataset"] == ds]
        for label in _labels(g):
            h = g[g["label"] == label]
            for col, style in (("train_loss", "--"), ("val_loss", "-")):
                agg = h.groupby("epoch")[col].apply(lambda v: mean_ci(v.to_numpy()))
                ep = agg.index.to_numpy() + 1
                m, lo, hi = (np.array([a[i] for a in agg]) for i in range(3))
                ax.plot(ep, m, style, color=color(label), label=label if col == "val_loss" else None, lw=1.4)
                ax.fill_between(ep, lo, hi, color=color(label), alpha=0.15, lw=0)
        _panel(ax, runs, ds, "epoch", "{units}")
    axes[0].legend(fontsize=7, title="val (solid), train (dashed)", title_fontsize=7)
    fig.suptitle("Learning curves: mean ± 95% CI over seeds")
    return _save(fig, out / "learning_curves.png")


def paired_difference_curves(curves: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path:
    """Val loss minus the zero strategy's val loss, same seed and epoch: mean ± 95% CI over seeds.

    Absolute curves hide effects much smaller than the fall of the loss; the paired difference
    shows them (below 0: ahead of zero)."""
    zero = curves[curves["label"] == "zero"][["dataset", "seed", "epoch", "val_loss"]]
    d = curves[curves["label"] != "zero"].merge(zero, on=["dataset", "seed", "epoch"], suffixes=("", "_zero"))
    d["diff"] = d["val_loss"] - d["val_loss_zero"]
    datasets = sorted(d["dataset"].unique())
    fig, axes = _grid(max(len(datasets), 1))
    for ax, ds in zip(axes, datasets):
        g = d[d["dataset"] == ds]
        for label in _labels(g):
            agg = g[g["label"] == label].groupby("epoch")["diff"].apply(lambda v: mean_ci(v.to_numpy()))
            ep = agg.index.to_numpy() + 1
            m, lo, hi = (np.array([a[i] for a in agg]) for i in range(3))
            ax.plot(ep, m, color=color(label), label=label, lw=1.4)
            ax.fill_between(ep, lo, hi, color=color(label), alpha=0.15, lw=0)
        ax.axhline(0, color=COLORS["zero"], lw=0.8)
        _panel(ax, runs, ds, "epoch", "val loss − zero's, {loss}")
    if datasets:
        axes[0].legend(fontsize=7)
    fig.suptitle("Paired difference to the zero strategy (val loss, same seed): mean ± 95% CI")
    return _save(fig, out / "paired_difference_curves.png")


def gap_bars(runs: pd.DataFrame, out: Path) -> Path:
    """Generalization gap (val − train loss at the best-val epoch) per strategy, one panel per
    dataset (each on its own scale: the datasets' losses differ by orders of magnitude)."""
    ok = runs[~runs["diverged"].astype(bool)]
    datasets = sorted(ok["dataset"].unique())
    fig, axes = _grid(max(len(datasets), 1), w=3.4, h=2.8)
    for ax, ds in zip(axes, datasets):
        g = ok[ok["dataset"] == ds]
        labels = _labels(g)
        stats_ = [mean_ci(g[g["label"] == label]["gap_at_best"].to_numpy()) for label in labels]
        m = np.array([s[0] for s in stats_])
        err = np.array([[s[0] - s[1] for s in stats_], [s[2] - s[0] for s in stats_]])
        ax.bar(np.arange(len(labels)), m, yerr=err, color=[color(x) for x in labels], capsize=3)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        task = g["task"].iloc[0]
        ax.set_title(ds, fontsize=9)
        ax.set_ylabel(f"val − train, {LOSS_UNITS[task].split(' (')[0]}", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Generalization gap at the best-val epoch: mean ± 95% CI over seeds "
                 "(train loss is measured in training mode, i.e. with the noise)", fontsize=9)
    return _save(fig, out / "generalization_gap.png")


def position_profiles(profiles: pd.DataFrame, runs: pd.DataFrame, out: Path, max_pos: int = 60) -> Path:
    """Mean val loss at step t of a sequence (best epoch), relative to each dataset's zero strategy:
    where does a zero start cost?"""
    datasets = sorted(profiles["dataset"].unique()) if len(profiles) else []
    fig, axes = _grid(max(len(datasets), 1))
    for ax, ds in zip(axes, datasets):
        g = profiles[(profiles["dataset"] == ds) & (profiles["position"] < max_pos)]
        for label in _labels(g):
            h = g[g["label"] == label].groupby("position")["loss"].mean()
            ax.plot(h.index + 1, h.to_numpy(), color=color(label), label=label, lw=1.3)
        _panel(ax, runs, ds, "step within the sequence", "val {units}")
        ax.set_xscale("log")
    if datasets:
        axes[0].legend(fontsize=7)
    fig.suptitle("Per-position validation loss at the best epoch (mean over seeds)")
    return _save(fig, out / "position_profiles.png")


def verdict_grid(verdicts: pd.DataFrame, out: Path) -> Path:
    """Claims × datasets, coloured by verdict."""
    claims = list(dict.fromkeys(verdicts["claim"]))
    cols = list(dict.fromkeys(verdicts["dataset"]))
    fig, ax = plt.subplots(figsize=(1.2 + 1.25 * len(cols), 0.9 + 0.5 * len(claims)))
    for i, c in enumerate(claims):
        for j, d in enumerate(cols):
            v = verdicts[(verdicts["claim"] == c) & (verdicts["dataset"] == d)]["verdict"]
            if len(v):
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color=VERDICT_COLORS[v.iloc[0]], ec="white"))
                ax.text(j + 0.5, i + 0.5, v.iloc[0][:6] + ".", ha="center", va="center", fontsize=7)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(claims), 0)
    ax.set_xticks(np.arange(len(cols)) + 0.5, cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(claims)) + 0.5, claims, fontsize=8)
    ax.set_title("Verdicts (green supported, red contradicted, grey inconclusive)", fontsize=9)
    return _save(fig, out / "verdict_grid.png")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def all_figures(runs, curves, profiles, verdicts, out: Path) -> list[Path]:
    out = Path(out)
    paths = [learning_curves(curves, runs, out), paired_difference_curves(curves, runs, out), gap_bars(runs, out),
             position_profiles(profiles, runs, out)]
    if len(verdicts):
        paths.append(verdict_grid(verdicts, out))
    return paths
