"""The claims study's figures (PNG, drawn with :mod:`replication.analysis.plotting`): learning curves,
paired differences to zero, generalization gaps, per-position loss profiles, the verdict grid and the
forest plot. Each returns ``None`` when its table holds nothing to draw (a zero-only or all-diverged
sweep), rather than failing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from replication.analysis.plotting import (
    COLORS,
    COMPARISON_COLORS,
    LOSS_UNITS,
    band,
    color,
    finished,
    grid_axes,
    ordered_labels,
    panel,
    plt,
    save,
)
from replication.analysis.stats import mean_ci

VERDICT_COLORS = {"supported": "#4daf4a", "contradicted": "#e41a1c", "negligible": "#9ecae1",
                  "inconclusive": "#cccccc", "out of regime": "#ffffff"}


def train_column(curves: pd.DataFrame) -> tuple[str, str]:
    """The training-loss column to plot and its legend label: the clean loss (noise off) where the
    records have it, else the in-training loss (older sweeps), labelled as such."""
    if "train_loss_clean" in curves and curves["train_loss_clean"].notna().any():
        return "train_loss_clean", "train, clean (dashed)"
    return "train_loss", "train, in-training incl. noise (dashed)"


def learning_curves(curves: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path | None:
    """Clean train (dashed) and val (solid) loss per epoch, mean ± 95% CI over seeds, one panel per dataset."""
    if curves.empty or "val_loss" not in curves:
        return None
    curves = finished(curves, runs)
    train_col, train_label = train_column(curves)
    datasets = sorted(curves["dataset"].unique())
    if not datasets:
        return None
    fig, axes = grid_axes(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = curves[curves["dataset"] == ds]
        for label in ordered_labels(g):
            h = g[g["label"] == label]
            if train_col in h:
                band(ax, h, train_col, color(label), style="--")
            band(ax, h, "val_loss", color(label), label=label)
        panel(ax, runs, ds, "epoch", "{units}")
    axes[0].legend(fontsize=7, title=f"val (solid), {train_label}", title_fontsize=7)
    fig.suptitle("Learning curves: mean ± 95% CI over seeds")
    return save(fig, out / "learning_curves.png")


def paired_difference_curves(curves: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path | None:
    """Val loss minus the zero strategy's val loss, same seed and epoch: mean ± 95% CI over seeds.

    Absolute curves hide effects much smaller than the fall of the loss; the paired difference
    shows them (below 0: ahead of zero)."""
    if curves.empty or "val_loss" not in curves:
        return None
    curves = finished(curves, runs)
    zero = curves[curves["label"] == "zero"][["dataset", "seed", "epoch", "val_loss"]]
    d = curves[curves["label"] != "zero"].merge(zero, on=["dataset", "seed", "epoch"], suffixes=("", "_zero"))
    d["diff"] = d["val_loss"] - d["val_loss_zero"]
    datasets = sorted(d["dataset"].unique())
    if not datasets:
        return None
    fig, axes = grid_axes(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = d[d["dataset"] == ds]
        for label in ordered_labels(g):
            band(ax, g[g["label"] == label], "diff", color(label), label=label)
        ax.axhline(0, color=COLORS["zero"], lw=0.8)
        panel(ax, runs, ds, "epoch", "val loss − zero's, {loss}")
    axes[0].legend(fontsize=7)
    fig.suptitle("Paired difference to the zero strategy (val loss, same seed): mean ± 95% CI")
    return save(fig, out / "paired_difference_curves.png")


def gap_bars(runs: pd.DataFrame, out: Path) -> Path | None:
    """Generalization gap (val − clean train loss at the best-val epoch) per strategy, one panel per
    dataset (each on its own scale: the datasets' losses differ by orders of magnitude)."""
    ok = runs[~runs["diverged"].astype(bool) & runs["gap_at_best"].notna()]
    datasets = sorted(ok["dataset"].unique())
    if not datasets:
        return None  # every run diverged, or records from before the clean training loss existed
    fig, axes = grid_axes(len(datasets), w=3.4, h=2.8)
    for ax, ds in zip(axes, datasets):
        g = ok[ok["dataset"] == ds]
        labels = ordered_labels(g)
        stats_ = [mean_ci(g[g["label"] == label]["gap_at_best"].to_numpy()) for label in labels]
        m = np.array([s[0] for s in stats_])
        # one seed has no interval: no bar rather than a NaN one
        err = np.nan_to_num(np.array([[s[0] - s[1] for s in stats_], [s[2] - s[0] for s in stats_]]), nan=0.0)
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
    return save(fig, out / "generalization_gap.png")


def position_profiles(profiles: pd.DataFrame, runs: pd.DataFrame, out: Path, max_pos: int = 60) -> Path | None:
    """Where does a zero start cost? Per dataset and strategy, the validation loss at step t of a
    sequence (best epoch) minus zero's at the same step and seed: mean ± 95% CI over paired seeds
    (overlapping raw curves could not be read; below 0: the strategy's start is better)."""
    p = profiles[profiles["position"] < max_pos] if len(profiles) else profiles
    zero = p[p["label"] == "zero"][["dataset", "seed", "position", "loss"]] if len(p) else p
    d = p[p["label"] != "zero"].merge(zero, on=["dataset", "seed", "position"], suffixes=("", "_zero")) if len(p) else p
    datasets = sorted(d["dataset"].unique()) if len(d) else []
    if not datasets:
        return None
    d = d.assign(diff=d["loss"] - d["loss_zero"])
    fig, axes = grid_axes(len(datasets))
    for ax, ds in zip(axes, datasets):
        g = d[d["dataset"] == ds]
        for label in ordered_labels(g):
            band(ax, g[g["label"] == label], "diff", color(label), x="position", label=label)
        ax.axhline(0, color=COLORS["zero"], lw=0.8)
        panel(ax, runs, ds, "step within the sequence", "val loss − zero's, {loss}")
        ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("Per-position validation loss at the best epoch, paired difference to zero (same seed): "
                 "mean ± 95% CI")
    return save(fig, out / "position_profiles.png")


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
    return save(fig, out / "verdict_grid.png")


def forest_plot(table: pd.DataFrame, pooled: pd.DataFrame, out: Path, delta_pct: float = 1.0) -> Path | None:
    """One panel per comparison (claim, a vs b): each dataset's effect (% of zero) with the interval its
    verdict was read from (Holm-adjusted t-interval), coloured by that verdict, and the random-effects
    estimate over datasets (diamond, 95% CI). The band is ±δ."""
    if table.empty:
        return None
    groups = [(k, g) for k, g in table.groupby(["claim", "a", "b"], sort=False)]
    fig, axes = grid_axes(len(groups), w=4.0, h=0.9 + 0.32 * max(len(g) for _, g in groups))
    fig.set_figheight(max(fig.get_figheight(), 2.4))  # one short row leaves the two-line title no room
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
    return save(fig, out / "forest_plot.png")


def all_figures(runs, curves, profiles, verdicts, out: Path, table: pd.DataFrame | None = None,
                pooled: pd.DataFrame | None = None) -> list[Path]:
    """Every figure the tables allow (see the module docstring); returns the paths written."""
    out = Path(out)
    paths = [learning_curves(curves, runs, out), paired_difference_curves(curves, runs, out), gap_bars(runs, out),
             position_profiles(profiles, runs, out), verdict_grid(verdicts, out)]
    if table is not None:
        paths.append(forest_plot(table, pooled if pooled is not None else pd.DataFrame(), out))
    return [p for p in paths if p is not None]
