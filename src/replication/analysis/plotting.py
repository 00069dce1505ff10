"""Figures of a sweep (matplotlib, PNG): learning curves, paired differences to zero, generalization
gaps, per-position loss profiles, the verdict grid and the forest plot. Colours are fixed per strategy
across every figure. Each function draws what its table holds and returns ``None`` when it holds
nothing to draw (a zero-only or all-diverged sweep), rather than failing."""

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
VERDICT_COLORS = {"supported": "#4daf4a", "contradicted": "#e41a1c", "negligible": "#9ecae1",
                  "inconclusive": "#cccccc", "out of regime": "#ffffff"}
COMPARISON_COLORS = {"better": "#4daf4a", "worse": "#e41a1c", "negligible": "#3182bd", "inconclusive": "#888888"}
LOSS_UNITS = {"lm": "cross-entropy (nats/token)", "forecast": "MSE (train-normalised units)",
              "classify": "cross-entropy (nats/sequence)"}


def color(label: str) -> str:
    base = label.split("_s")[0] if label not in COLORS else label
    return COLORS.get(base, "#9467bd")


def _finished(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The curves of runs that did not diverge (a diverged run's NaN or huge losses would swamp a mean)."""
    ok = runs.loc[~runs["diverged"].astype(bool), ["dataset", "label", "seed"]]
    return curves.merge(ok, on=["dataset", "label", "seed"])


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
    # np.ptp guard: scipy's sem warns ("catastrophic cancellation") on seeds that agree exactly.
    sd = 0.0 if np.ptp(v) == 0 else float(np.std(v, ddof=1))
    h = sd / np.sqrt(len(v)) * stats.t.ppf(0.975, len(v) - 1)
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
    task = runs.loc[runs["dataset"] == ds, "task"]
    units = LOSS_UNITS.get(task.iloc[0] if len(task) else None, "loss (units)")
    ax.set_title(ds)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel.format(units=units, loss=units.split(" (")[0]), fontsize=8)
    ax.grid(alpha=0.3)


def train_column(curves: pd.DataFrame) -> tuple[str, str]:
    """The training-loss column to plot and its legend label: the clean loss (noise off) where the
    records have it, else the in-training loss (older sweeps), labelled as such."""
    if "train_loss_clean" in curves and curves["train_loss_clean"].notna().any():
        return "train_loss_clean", "train, clean (dashed)"
    return "train_loss", "train, in-training incl. noise (dashed)"


def _band(ax, x: pd.DataFrame, col: str, label: str, style: str = "-", legend: bool = True) -> None:
    """Mean ± 95% t-interval over seeds of ``col`` per epoch (epochs 1-based on the axis)."""
    v = x[["epoch", col]].dropna()
    if v.empty:
        return
    agg = v.groupby("epoch")[col].agg(list)
    m, lo, hi = (np.array([mean_ci(np.asarray(a))[i] for a in agg]) for i in range(3))
    ep = agg.index.to_numpy() + 1
    ax.plot(ep, m, style, color=color(label), label=label if legend else None, lw=1.4)
    ax.fill_between(ep, lo, hi, color=color(label), alpha=0.15, lw=0)


def learning_curves(curves: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path | None:
    """Clean train (dashed) and val (solid) loss per epoch, mean ± 95% CI over seeds, one panel per dataset."""
    if curves.empty or "val_loss" not in curves:
        return None
    curves = _finished(curves, runs)
    train_col, train_label = train_column(curves)
    datasets = sorted(curves["dataset"].unique())
    if not datasets:
        return None
    fig, axes = _grid(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = curves[curves["dataset"] == ds]
        for label in _labels(g):
            h = g[g["label"] == label]
            if train_col in h:
                _band(ax, h, train_col, label, "--", legend=False)
            _band(ax, h, "val_loss", label)
        _panel(ax, runs, ds, "epoch", "{units}")
    axes[0].legend(fontsize=7, title=f"val (solid), {train_label}", title_fontsize=7)
    fig.suptitle("Learning curves: mean ± 95% CI over seeds")
    return _save(fig, out / "learning_curves.png")


def paired_difference_curves(curves: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path | None:
    """Val loss minus the zero strategy's val loss, same seed and epoch: mean ± 95% CI over seeds.

    Absolute curves hide effects much smaller than the fall of the loss; the paired difference
    shows them (below 0: ahead of zero)."""
    if curves.empty or "val_loss" not in curves:
        return None
    curves = _finished(curves, runs)
    zero = curves[curves["label"] == "zero"][["dataset", "seed", "epoch", "val_loss"]]
    d = curves[curves["label"] != "zero"].merge(zero, on=["dataset", "seed", "epoch"], suffixes=("", "_zero"))
    d["diff"] = d["val_loss"] - d["val_loss_zero"]
    datasets = sorted(d["dataset"].unique())
    if not datasets:
        return None
    fig, axes = _grid(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = d[d["dataset"] == ds]
        for label in _labels(g):
            _band(ax, g[g["label"] == label], "diff", label)
        ax.axhline(0, color=COLORS["zero"], lw=0.8)
        _panel(ax, runs, ds, "epoch", "val loss − zero's, {loss}")
    axes[0].legend(fontsize=7)
    fig.suptitle("Paired difference to the zero strategy (val loss, same seed): mean ± 95% CI")
    return _save(fig, out / "paired_difference_curves.png")


def gap_bars(runs: pd.DataFrame, out: Path) -> Path | None:
    """Generalization gap (val − clean train loss at the best-val epoch) per strategy, one panel per
    dataset (each on its own scale: the datasets' losses differ by orders of magnitude)."""
    ok = runs[~runs["diverged"].astype(bool) & runs["gap_at_best"].notna()]
    datasets = sorted(ok["dataset"].unique())
    if not datasets:
        return None  # every run diverged, or records from before the clean training loss existed
    fig, axes = _grid(len(datasets), w=3.4, h=2.8)
    for ax, ds in zip(axes, datasets):
        g = ok[ok["dataset"] == ds]
        labels = _labels(g)
        stats_ = [mean_ci(g[g["label"] == label]["gap_at_best"].to_numpy()) for label in labels]
        m = np.array([s[0] for s in stats_])
        err = np.array([[s[0] - s[1] for s in stats_], [s[2] - s[0] for s in stats_]])
        x = np.arange(len(labels))
        ax.bar(x, m, color=[color(lab) for lab in labels])
        # error bars drawn apart: bar(yerr=...) with a single bar trips a numpy deprecation in matplotlib
        ax.errorbar(x, m, yerr=err, fmt="none", ecolor="k", capsize=3, lw=1)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        task = g["task"].iloc[0]
        ax.set_title(ds, fontsize=9)
        ax.set_ylabel(f"val − clean train, {LOSS_UNITS.get(task, 'loss').split(' (')[0]}", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Generalization gap at the best-val epoch: mean ± 95% CI over seeds\n"
                 "(val − training loss measured with the noise off)", fontsize=9)
    return _save(fig, out / "generalization_gap.png")


def position_profiles(profiles: pd.DataFrame, runs: pd.DataFrame, out: Path, max_pos: int = 60) -> Path | None:
    """Mean val loss at step t of a sequence (best epoch), per strategy: where does a zero start cost?"""
    datasets = sorted(profiles["dataset"].unique()) if len(profiles) else []
    if not datasets:
        return None
    fig, axes = _grid(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = profiles[(profiles["dataset"] == ds) & (profiles["position"] < max_pos)]
        for label in _labels(g):
            h = g[g["label"] == label].groupby("position")["loss"].mean()
            ax.plot(h.index + 1, h.to_numpy(), color=color(label), label=label, lw=1.3)
        _panel(ax, runs, ds, "step within the sequence", "val {units}")
        ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("Per-position validation loss at the best epoch (mean over seeds)")
    return _save(fig, out / "position_profiles.png")


def verdict_grid(verdicts: pd.DataFrame, out: Path) -> Path | None:
    """Claims × datasets, coloured by verdict; out-of-regime cells show the share of runs that peaked
    before their last epoch. Exploratory rows (``claim [label]``) come last."""
    if verdicts.empty:
        return None
    claims = list(dict.fromkeys(verdicts["claim"]))
    h4 = verdicts["claim"].str.startswith("H4")  # H4's columns are pairs of datasets: put them last
    cols = sorted(set(verdicts.loc[~h4, "dataset"])) + sorted(set(verdicts.loc[h4, "dataset"]))
    fig, ax = plt.subplots(figsize=(2.2 + 1.25 * len(cols), 0.9 + 0.5 * len(claims)))
    for i, c in enumerate(claims):
        for j, d in enumerate(cols):
            v = verdicts[(verdicts["claim"] == c) & (verdicts["dataset"] == d)]
            if len(v):
                r = v.iloc[0]
                ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=VERDICT_COLORS.get(r["verdict"], "#eeeeee"),
                                           edgecolor="#999999", lw=0.5))
                text = {"out of regime": "out of\nregime", "contradicted": "contra-\ndicted"}.get(r["verdict"], r["verdict"])
                if r["verdict"] == "out of regime" and np.isfinite(r.get("peak_before_last", np.nan)):
                    text += f" ({100 * r['peak_before_last']:.0f}%)"
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=6)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(claims), 0)
    ax.set_xticks(np.arange(len(cols)) + 0.5, cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(claims)) + 0.5, claims, fontsize=8)
    ax.set_title("Protocol v2 verdicts (green supported, red contradicted, blue negligible, grey inconclusive, "
                 "white out of regime: % of runs peaking before the last epoch)", fontsize=7)
    return _save(fig, out / "verdict_grid.png")


def forest_plot(table: pd.DataFrame, pooled: pd.DataFrame, out: Path, delta_pct: float = 1.0) -> Path | None:
    """One panel per comparison (claim, a vs b): each dataset's effect (% of zero) with the interval its
    verdict was read from (Holm-adjusted t-interval), coloured by that verdict, and the random-effects
    estimate over datasets (diamond, 95% CI). The band is ±δ."""
    if table.empty:
        return None
    groups = [(k, g) for k, g in table.groupby(["claim", "a", "b"], sort=False)]
    fig, axes = _grid(len(groups), w=4.0, h=0.9 + 0.32 * max(len(g) for _, g in groups))
    for ax, ((claim, a, b), g) in zip(axes, groups):
        g = g.reset_index(drop=True)
        for i, r in g.iterrows():
            c = COMPARISON_COLORS.get(r["verdict"], "#888888")
            ax.errorbar(r["rel_pct"], i, xerr=[[r["rel_pct"] - r["rel_ci_low"]], [r["rel_ci_high"] - r["rel_pct"]]],
                        fmt="o", color=c, ms=4, capsize=2, lw=1)
        labels = list(g["dataset"])
        p = pooled[(pooled["claim"] == claim) & (pooled["a"] == a) & (pooled["b"] == b)] if len(pooled) else pooled
        for k, (_, r) in enumerate(p.iterrows()):
            y = len(g) + k
            ax.fill([r["ci_low"], r["estimate"], r["ci_high"], r["estimate"]], [y, y - 0.3, y, y + 0.3], color="k")
            labels.append(f"pooled ({r['subset']}, k={r['k']})")
        ax.axvspan(-delta_pct, delta_pct, color="#9ecae1", alpha=0.3, lw=0)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_title(f"{claim}: {a} − {b}", fontsize=8)
        ax.set_xlabel("% of zero's loss (H4: points)", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Effects per dataset (Holm-adjusted t-intervals, coloured by verdict: green better, red worse, "
                 "blue negligible, grey inconclusive)\nand DerSimonian–Laird pooled estimates (95%); band ±δ",
                 fontsize=8)
    return _save(fig, out / "forest_plot.png")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def all_figures(runs, curves, profiles, verdicts, out: Path, table: pd.DataFrame | None = None,
                pooled: pd.DataFrame | None = None) -> list[Path]:
    """Every figure the tables allow (see the module docstring); returns the paths written."""
    out = Path(out)
    paths = [learning_curves(curves, runs, out), paired_difference_curves(curves, runs, out), gap_bars(runs, out),
             position_profiles(profiles, runs, out), verdict_grid(verdicts, out)]
    if table is not None:
        paths.append(forest_plot(table, pooled if pooled is not None else pd.DataFrame(), out))
    return [p for p in paths if p is not None]
