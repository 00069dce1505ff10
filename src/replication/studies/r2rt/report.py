"""The r2rt section of REPORT.md (:func:`section`): the side-by-side perplexity tables, the plain
statement, the learning curves of train / val perplexity per epoch and the per-position loss over
the 50-token window, all computed by :mod:`.r2rt` from the run records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from replication.analysis.fmt import ci, fixed, pct, table_md
from replication.analysis.plotting import band, color, finished, ordered_labels, plt, save

from . import tables as R


def _band(ax, df: pd.DataFrame, col: str, label: str, style: str = "-", lw: float = 1.4, spread: str = "ci") -> None:
    """Mean ± 95% t-interval over seeds of ``col`` per (0-based) epoch or position ``x``; only solid
    lines enter the legend."""
    band(ax, df, col, color(label), x="x", offset=0, style=style, label=label if style == "-" else None, lw=lw,
         spread=spread)


def perplexity_curves(curves: pd.DataFrame, runs: pd.DataFrame, datasets: list[str], out: Path) -> Path | None:
    """Per dataset: train perplexity (in-training, with the strategy's noise, as r2rt plotted it,
    solid; clean, dotted) and validation perplexity per epoch, mean ± 95% CI over seeds."""
    if curves.empty or "val_loss" not in curves:
        return None
    c = finished(curves[curves["dataset"].isin(datasets)], runs)
    if c.empty:
        return None
    c = c.assign(x=c["epoch"], train_ppl=np.exp(c["train_loss"]), val_ppl=np.exp(c["val_loss"]),
                 clean_ppl=np.exp(c["train_loss_clean"]) if "train_loss_clean" in c else np.nan)
    dss = sorted(c["dataset"].unique())
    fig, axes = plt.subplots(len(dss), 2, figsize=(10, 3.6 * len(dss)), squeeze=False)
    for row, ds in zip(axes, dss):
        g = c[c["dataset"] == ds]
        for label in ordered_labels(g["label"]):
            h = g[g["label"] == label]
            _band(row[0], h, "train_ppl", label)
            _band(row[0], h, "clean_ppl", label, ":", lw=1.0, spread="none")
            _band(row[1], h, "val_ppl", label)
        for ax, what in zip(row, ("train perplexity (solid: in training, noise on; dotted: clean)",
                                  "validation perplexity")):
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(ScalarFormatter())
            ax.tick_params(axis="y", which="minor", labelsize=6)
            ax.set_title(f"{ds}: {what}", fontsize=8)
            ax.set_xlabel("epoch (0-based)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3, which="both")
        row[1].legend(fontsize=7)
    fig.suptitle("Learning curves in perplexity (r2rt's figure): mean ± 95% CI over seeds", fontsize=9)
    return save(fig, out / "r2rt_perplexity_curves.png")


def position_figure(profiles: pd.DataFrame, runs: pd.DataFrame, datasets: list[str], out: Path) -> Path | None:
    """Per dataset: val loss at each position of the window (best epoch, mean over seeds), and its
    paired difference to zero (same seed) with a 95% CI."""
    p = profiles[profiles["dataset"].isin(datasets)] if len(profiles) else profiles
    if p.empty:
        return None
    p = p.assign(x=p["position"].astype(int) + 1)
    dss = sorted(p["dataset"].unique())
    fig, axes = plt.subplots(len(dss), 2, figsize=(10, 3.4 * len(dss)), squeeze=False)
    for row, ds in zip(axes, dss):
        g = p[p["dataset"] == ds]
        zero = g[g["label"] == "zero"][["seed", "x", "loss"]]
        for label in ordered_labels(g["label"]):
            h = g[g["label"] == label]
            _band(row[0], h, "loss", label, spread="none")
            if label != "zero" and len(zero):
                d = h.merge(zero, on=["seed", "x"], suffixes=("", "_zero"))
                _band(row[1], d.assign(diff=d["loss"] - d["loss_zero"]), "diff", label)
        row[1].axhline(0, color=color("zero"), lw=0.8)
        row[0].set_ylabel("val loss (nats/token)", fontsize=8)
        row[1].set_ylabel("minus zero's, same seed (nats)", fontsize=8)
        for ax in row:
            ax.set_title(ds, fontsize=8)
            ax.set_xlabel("position in the window (1 = first prediction, from the initial state)", fontsize=8)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.suptitle("Where a zero start costs: validation loss per window position at the best epoch", fontsize=9)
    return save(fig, out / "r2rt_position_profile.png")


def side_by_side_md(ppl: pd.DataFrame, ds: str) -> str:
    """The two markdown tables of one dataset: at the best epoch, and at the first and last epochs."""

    g = ppl[ppl["dataset"] == ds]
    best, ends = [], []
    for r in g.itertuples():
        b = R.R2RT.loc[r.strategy] if r.strategy in R.R2RT.index else None
        best.append([r.strategy, f"{b.best_val_ppl:.2f} ({int(b.best_epoch)})" if b is not None else "–",
                     pct(R.r2rt_pct(r.strategy)) if b is not None else "–",
                     fixed(b.train_ppl_at_best, 2) if b is not None else "–",
                     ci(r.best_val_ppl, r.best_val_ppl_ci_low, r.best_val_ppl_ci_high, fixed),
                     "0 (reference)" if r.strategy == "zero" else ci(r.pct_vs_zero_paired, r.pct_ci_low, r.pct_ci_high,
                                                                      pct),
                     f"{r.best_epoch_mean:.1f} ({r.best_epoch_min:.0f}–{r.best_epoch_max:.0f})",
                     f"{fixed(r.train_ppl_at_best)} / {fixed(r.train_clean_ppl_at_best)}", fixed(r.test_ppl_at_best), r.seeds])
        ends.append([r.strategy, f"{b.first_train_ppl} / {b.first_val_ppl}" if b is not None else "–",
                     f"{b.last_train_ppl} / {b.last_val_ppl}" if b is not None else "–",
                     f"{fixed(r.first_train_ppl)} / {fixed(r.first_val_ppl)}",
                     f"{fixed(r.last_train_ppl)} / {fixed(r.last_val_ppl)} ({r.epochs_run_mean:.1f})"])
    t1 = pd.DataFrame(best, columns=["strategy", "r2rt: best val ppl (epoch)", "r2rt: vs zero", "r2rt: train ppl then",
                                     "ours: best val ppl [95% CI]", "ours: vs zero, paired [95% CI]",
                                     "ours: epoch of best, mean (range)", "ours: train ppl then, in training / clean",
                                     "ours: test ppl then", "seeds"])
    t2 = pd.DataFrame(ends, columns=["strategy", "r2rt: epoch 0 train / val", "r2rt: epoch 19 train / val",
                                     "ours: epoch 0 train / val", "ours: last epoch train / val (epochs run, mean)"])
    return "\n\n".join([table_md(t1), table_md(t2)])


def positions_md(pos: pd.DataFrame, ds: str) -> str:
    """The per-position table of one dataset and one generated sentence on the cost of a zero start."""

    g = pos[pos["dataset"] == ds]
    if g.empty:
        return ""
    cells = {(r.strategy, r.bucket): (f"{r.loss:.3f}" if r.strategy == "zero" else
                                      f"{r.loss:.3f} ({ci(r.diff_vs_zero, r.diff_ci_low, r.diff_ci_high, lambda v: f'{v:+.3f}')})")
             for r in g.itertuples()}
    buckets = [b for b in R.BUCKETS if any(k[1] == b for k in cells)]
    rows = [[s, *[cells.get((s, b), "–") for b in buckets]] for s in ordered_labels(g["strategy"])]
    out = ["Mean validation loss (nats/token) at the best epoch by position in the window; in brackets the paired "
           "difference to zero (same seed) with its 95% CI.", "", table_md(pd.DataFrame(rows, columns=["strategy",
                                                                                                    *buckets]))]
    z = g[g["strategy"] == "zero"].set_index("bucket")
    if {"t=1", "t=2–5"} <= set(z.index):
        text = (f"With a zero start the loss exceeds that of the window's tail (positions 26–50) by "
                f"{z.loc['t=1', 'excess_over_tail']:+.2f} nats at the first position and by "
                f"{z.loc['t=2–5', 'excess_over_tail']:+.2f} nats at positions 2–5")
        moves = [f"{r.strategy} {r.diff_vs_zero:+.3f} [{r.diff_ci_low:+.3f}, {r.diff_ci_high:+.3f}]"
                 for r in g[(g["bucket"] == "t=1") & (g["strategy"] != "zero")].itertuples() if np.isfinite(r.diff_ci_low)]
        text += f"; at the first position the other states change the loss by {'; '.join(moves)} nats." if moves else "."
        out += ["", text]
    return "\n".join(out)


def earlier_run_md(out: Path, ppl: pd.DataFrame) -> str:
    """The table of an earlier run of this profile kept in ``<out>_run1/`` (a protocol change made
    after its results were seen must keep them in view), beside this run's; "" when there is none."""

    path = Path(out).with_name(Path(out).name + "_run1") / "r2rt_perplexity.csv"
    if not path.exists() or ppl.empty:
        return ""
    old = pd.read_csv(path)
    rows = []
    for r in ppl.itertuples():
        o = old[(old["dataset"] == r.dataset) & (old["strategy"] == r.strategy)]
        cells = []
        for x in ([*o.itertuples()][:1] or [None]) + [r]:
            if x is None:
                cells += ["–", "–", "–"]
                continue
            cells += [ci(x.best_val_ppl, x.best_val_ppl_ci_low, x.best_val_ppl_ci_high, fixed),
                      "0 (reference)" if x.strategy == "zero" else ci(x.pct_vs_zero_paired, x.pct_ci_low,
                                                                       x.pct_ci_high, pct),
                      f"{x.best_epoch_min:.0f}–{x.best_epoch_max:.0f}"]
        rows.append([r.dataset, r.strategy, *cells])
    cols = ["dataset", "strategy", "earlier run: best val ppl", "earlier: vs zero", "earlier: best epochs",
            "this run: best val ppl", "this run: vs zero", "this run: best epochs"]
    return "\n".join([
        "### An earlier run of this profile, under a protocol changed after its results were seen", "",
        f"`{path.parent.name}/` keeps the earlier run. Its early stopping had no minimum number of epochs, and "
        "some runs stopped on the initial unigram plateau before they learned. That defect was seen in its results, "
        "and the fix (the yaml's `trainer.min_epochs`) came after. Both tables are shown so that the change can be "
        "judged.", "", table_md(pd.DataFrame(rows, columns=cols))])


def section(runs: pd.DataFrame, curves: pd.DataFrame, profiles: pd.DataFrame, meta: dict, out: Path,
            datasets: list[str]) -> tuple[str, dict[str, pd.DataFrame]]:
    """The markdown of the r2rt section and its tables (``r2rt_perplexity``, ``r2rt_reproduction``,
    ``r2rt_positions``); draws ``figures/r2rt_*.png`` under ``out``."""
    ppl = R.perplexity_table(runs, curves, datasets)
    rep = R.reproduction(ppl)
    pos = R.position_table(profiles, datasets)
    tables = {"r2rt_perplexity": ppl, "r2rt_reproduction": rep, "r2rt_positions": pos}
    figs = [perplexity_curves(curves, runs, datasets, Path(out) / "figures"),
            position_figure(profiles, runs, datasets, Path(out) / "figures")]
    lines = ["## r2rt's regime: perplexity side by side with r2rt's PTB table", "",
             "Perplexity = exp(mean loss per token). r2rt: word-level PTB (~0.93 M training tokens, 10 k vocabulary), "
             "2 × 200 LSTM, 50-token windows each from the initial state, Adam 1e-3, 20 epochs, one run per variant. "
             "Ours: mean over seeds with 95% t-intervals; % vs zero is paired (same seed); epochs are 0-based, as in "
             "r2rt's table; train perplexity 'in training' includes the strategy's noise (what r2rt measured), "
             "'clean' is measured with the noise off. Descriptive: the verdicts above are protocol v2's.", "",
             "**Are r2rt's effect sizes reproduced?** (outcome of the paired 95% interval of the % change in best "
             "validation perplexity against r2rt's value: *reproduced* if it lies below 0 and contains r2rt's value, "
             "*larger* if wholly below it, *smaller* if between it and 0, *none* if it contains 0 but not r2rt's value, "
             "*inconclusive* if it contains both, *opposite* if wholly above 0)", ""]
    if ppl.empty:
        return "\n".join(lines + ["(no finished run on a word-level dataset)"]), tables
    lines += R.statement(ppl, rep, runs, meta.get("config")) or ["- (no zero run to compare with)"]
    for ds in sorted(ppl["dataset"].unique()):
        lines += ["", f"### {ds}", "", side_by_side_md(ppl, ds)]
        pm = positions_md(pos, ds)
        if pm:
            lines += ["", "#### Where in the 50-token window a zero start costs", "", pm]
    earlier = earlier_run_md(Path(meta.get("out", out)), ppl)  # beside the final folder, not the one being built
    if earlier:
        lines += ["", earlier]
    lines += ["", *[f"![{f.name}](figures/{f.name})\n" for f in figs if f is not None]]
    return "\n".join(lines), tables
