"""Figures and ``REPORT.md`` of the data-conditioned study (:mod:`.conditioned`): the validation loss per
position over the first steps of a sequence (:func:`positions_figure`), the five comparisons per
dataset as a forest plot (:func:`effects_figure`) and the report itself (:func:`render`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from replication.analysis.fmt import count, pct, table_md
from replication.analysis.plotting import (
    COMPARISON_COLORS,
    LOSS_UNITS,
    band,
    color,
    ordered_labels,
    plt,
    save,
)
from replication.analysis.protocol import ALPHA, DELTA
from replication.analysis.sections import missing_section, setup_section, skipped_section

from .tables import COMPARISONS, LABELS

# Fixed per arm (zero and learned as in every other figure of the project).
STYLES = {"zero_warmup": "--"}
MAX_POS = 20  # the figure and the position table cover steps t = 0 .. MAX_POS − 1
ARMS = {
    "zero": "h0 = 0; trained on every step",
    "learned": "one h0 (and c0) learned as a parameter, the same for every sequence",
    "encoder": "h0 (and c0) = a one-hidden-layer network applied to the sequence's own first k steps "
               "(`init=\"encoder\"`), trained jointly",
    "zero_warmup": "h0 = 0, and the first k steps of every sequence are left out of the training loss too "
                   "(warm-up, washout)",
}


def scored_from(runs: pd.DataFrame) -> dict:
    """``{label: sorted distinct first scored steps}`` over the finished runs (NaN: not recorded)."""
    ok = runs[~runs["diverged"].astype(bool)]
    return {lab: sorted({float(v) for v in g["scored_from"]}) for lab, g in ok.groupby("label")}


def common_k(runs: pd.DataFrame) -> int | None:
    """The first scored step shared by every finished run, or None when runs differ or do not say."""
    vals = {v for vs in scored_from(runs).values() for v in vs}
    return int(vals.pop()) if len(vals) == 1 and np.isfinite(next(iter(vals))) else None


def positions_figure(profiles: pd.DataFrame, runs: pd.DataFrame, out: Path, max_pos: int = MAX_POS) -> Path | None:
    """Per dataset with a per-position profile: mean validation loss (best epoch) at steps t = 0 ..
    max_pos − 1, one line per arm with a 95% t-band over seeds; the unscored steps t < k are shaded.
    Classification datasets have no profile (their loss sits at the last step) and get no panel."""
    ok = runs.loc[~runs["diverged"].astype(bool), ["dataset", "label", "seed"]]
    p = profiles.merge(ok, on=["dataset", "label", "seed"]) if len(profiles) else profiles
    p = p[p["position"] < max_pos] if len(p) else p
    dss = sorted(p["dataset"].unique()) if len(p) else []
    if not dss:
        return None
    k = common_k(runs)
    fig, axes = plt.subplots(1, len(dss), figsize=(max(4.4 * len(dss), 7.0), 3.9), squeeze=False)
    for ax, ds in zip(axes[0], dss):
        g = p[p["dataset"] == ds]
        for label in ordered_labels(g["label"], LABELS):
            band(ax, g[g["label"] == label], "loss", color(label), x="position", offset=0,
                 style=STYLES.get(label, "-"), label=label)
        if k:
            ax.axvspan(-0.5, k - 0.5, color="#bbbbbb", alpha=0.35, lw=0,
                       label=f"t < {k}: not scored (the encoder has read these inputs)" if ds == dss[0] else None)
        task = runs.loc[runs["dataset"] == ds, "task"].iloc[0]
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel("step t within the sequence (0-based)", fontsize=8)
        ax.set_ylabel(f"val {LOSS_UNITS.get(task, 'loss')}", fontsize=8)
        ax.set_xlim(-0.5, max_pos - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        lo_, hi_ = np.nanpercentile(g["loss"], [1, 99]) if len(g) else (np.nan, np.nan)
        if np.isfinite(lo_) and lo_ > 0 and hi_ / lo_ > 20:  # a zero start's first step can dwarf the rest
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    # below the panels: inside, it would hide the first steps, where the arms differ most
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    skipped = sorted(set(runs["dataset"]) - set(dss))
    note = f"\nnot shown (classification, one loss per sequence at its end): {', '.join(skipped)}" if skipped else ""
    fig.suptitle(f"Validation loss per position at the best epoch, first {max_pos} steps: mean ± 95% CI over seeds"
                 f"{note}", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # save()'s own tight_layout would put the legend over the axes
    return save(fig, Path(out) / "conditioned_positions.png", tight=False)


def effects_figure(table: pd.DataFrame, out: Path, delta_pct: float = 100 * DELTA) -> Path | None:
    """One panel per dataset: the five comparisons' effects (% of zero's loss) with the Holm-adjusted
    interval each verdict was read from, coloured by verdict; the band is ±δ."""
    if table.empty:
        return None
    dss = sorted(table["dataset"].unique())
    names = [f"{a} − {b}" for a, b, _ in COMPARISONS]
    cols = min(len(dss), 2)
    rows = -(-len(dss) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 0.6 + (0.4 + 0.4 * len(names)) * rows), squeeze=False)
    for ax in axes.flat[len(dss):]:
        ax.set_visible(False)
    for ax, ds in zip(axes.flat, dss):
        g = table[table["dataset"] == ds]
        for i, (a, b, _) in enumerate(COMPARISONS):
            r = g[(g["a"] == a) & (g["b"] == b)]
            if not len(r):
                continue
            r = r.iloc[0]
            lo, hi = r["rel_ci_low"], r["rel_ci_high"]
            err = [[r["rel_pct"] - lo], [hi - r["rel_pct"]]] if np.isfinite(lo) else None
            ax.errorbar(r["rel_pct"], i, xerr=err, fmt="o", ms=4, capsize=2, lw=1,
                        color=COMPARISON_COLORS.get(r["verdict"], "#888888"))
        ax.axvspan(-delta_pct, delta_pct, color="#9ecae1", alpha=0.3, lw=0)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_yticks(np.arange(len(names)), names, fontsize=7)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel("a − b, % of zero's test loss (< 0: a better)", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Data-conditioned initial states (exploratory): paired effects with Holm-adjusted t-intervals, "
                 "coloured by verdict\n(green better, red worse, blue negligible, grey inconclusive); band ±δ = "
                 f"{delta_pct:g}% of zero's loss", fontsize=8)
    return save(fig, Path(out) / "conditioned_effects.png")


def position_table(profiles: pd.DataFrame, runs: pd.DataFrame, k: int | None, max_pos: int = MAX_POS) -> pd.DataFrame:
    """Per dataset and arm: mean validation loss (best epoch, mean over seeds) over the unscored steps
    t < k and over the scored steps k ≤ t < max_pos. Columns: dataset, arm, ``t < k``, ``k ≤ t < max_pos``."""
    ok = runs.loc[~runs["diverged"].astype(bool), ["dataset", "label", "seed"]]
    p = profiles.merge(ok, on=["dataset", "label", "seed"]) if len(profiles) and k else pd.DataFrame()
    cols = ["dataset", "arm", f"t < {k}", f"{k} ≤ t < {max_pos}"]
    if p.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (ds, label), g in p.groupby(["dataset", "label"]):
        per_seed = [g[sel].groupby("seed")["loss"].mean().mean()
                    for sel in (g["position"] < k, (g["position"] >= k) & (g["position"] < max_pos))]
        rows.append([ds, label, *per_seed])
    t = pd.DataFrame(rows, columns=cols)
    t["_o"] = [LABELS.index(x) if x in LABELS else 99 for x in t["arm"]]
    return t.sort_values(["dataset", "_o"]).drop(columns="_o").reset_index(drop=True)


def _scoring_md(runs: pd.DataFrame) -> tuple[list[str], int | None]:
    by = scored_from(runs)
    k = common_k(runs)
    enc = runs.loc[runs["label"] == "encoder", "encoder_steps"].dropna().unique()
    enc_k = f"k = {int(enc[0])} steps" if len(enc) == 1 else "k = ? (not recorded)" if not len(enc) else \
        f"k varies: {sorted(enc)}"
    warm = runs.loc[runs["label"] == "zero_warmup", "warmup"].dropna().unique()
    classify = sorted(runs.loc[runs["task"] == "classify", "dataset"].unique())
    if k is not None:
        head = (f"**Scored positions: steps t ≥ {k} (0-based) of every sequence, for every arm** — the first {k} "
                f"steps t = 0–{k - 1} enter no metric of any arm (read from each run's `trainer.score_from` / "
                f"`trainer.warmup`), so all arms are compared on the same positions.")
    else:
        head = ("**WARNING: the arms are NOT scored on the same positions** (first scored step per arm: "
                + "; ".join(f"{lab}: {', '.join('?' if not np.isfinite(v) else f't ≥ {v:g}' for v in vs)}"
                            for lab, vs in by.items()) + "); their comparisons are not like for like.")
    lines = [head, "",
             f"- Encoder: {enc_k}. Warm-up: " + (f"k = {int(warm[0])} steps" if len(warm) == 1 else "?") +
             " (left out of the training loss as well as the metrics; the other arms train on every step).",
             *([f"- Classification ({', '.join(classify)}): the loss is that of the whole sequence, read at its last "
                "step, so the scored positions and the warm-up change nothing there."] if classify else []),
             f"- For forecasting and language modelling the target of step t is the input of step t + 1, so the "
             f"encoder, having read steps 0–{(k or 5) - 1}, has seen the targets of steps 0–{(k or 5) - 2}: its loss "
             f"on the unscored steps is not comparable and is shown only to locate where the arms differ."]
    return lines, k


def _arms_md(runs: pd.DataFrame) -> list[str]:
    present = ordered_labels(runs["label"], LABELS)
    return [f"- `{lab}`: {ARMS.get(lab, 'an arm outside the study design')}; "
            f"{count(runs[runs['label'] == lab]['seed'].nunique(), 'seed')}" for lab in present]


def _protocol_md() -> list[str]:
    return [
        "**Protocol v2, EXPLORATORY.** These comparisons are not the blog's claims (C1–C3, H4) and do not add to "
        "their verdicts. The rules are protocol v2's (`replication.analysis.protocol`, printed in full in "
        "`results/default/REPORT.md`), fixed before this sweep:", "",
        "- **Endpoint**: test loss at the epoch of best validation loss (`test_at_best`), on the scored positions.",
        "- **Effect**: mean over paired seeds (same seed = same initial weights and data order) of a − b, as % of "
        "zero's mean test loss on the dataset; negative: a has the lower loss.",
        f"- **Margin** δ = {100 * DELTA:g}% of zero's mean loss.",
        f"- **Tests** (α = {ALPHA:g}): paired t-test per comparison; Holm's correction over **one family per "
        "dataset: its five comparisons**. The interval is the t-interval at 1 − α/c, c = Holm's factor of that "
        "comparison; equivalence = the same interval inside ±δ.",
        "- **Verdict**: `negligible` if the interval lies inside ±δ; `better` / `worse` if it lies wholly below / "
        "above 0 and is not negligible; `inconclusive` otherwise (and with fewer than 2 paired seeds).",
        "- **Regime**: the share of runs that peaked before their last epoch is shown for information; as the "
        "comparisons are exploratory, no gate applies.",
    ]


def _comparisons_md(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no comparison: no dataset has two arms finished for the same seed)"
    rows = [[r.dataset, f"{r.a} − {r.b}", r.question, r.n, f"{pct(r.rel_pct)} [{pct(r.rel_ci_low)}, "
             f"{pct(r.rel_ci_high)}]", f"{100 * r.level:.2f}%" if np.isfinite(r.level) else "–",
             f"{r.p_holm:.2g}" if np.isfinite(r.p_holm) else "–", f"{r.p_equiv:.2g}" if np.isfinite(r.p_equiv) else "–",
             r.verdict] for r in table.itertuples()]
    return table_md(pd.DataFrame(rows, columns=["dataset", "a − b", "asks", "n", "effect, % of zero [interval]",
                                                "level", "p (Holm)", "p_equiv", "verdict"]))


def _regime_md(reg: pd.DataFrame) -> str:
    rows = [[r.dataset, r.runs, r.diverged, f"{100 * r.peak_before_last:.0f}%" if np.isfinite(r.peak_before_last)
             else "–", f"{r.median_best_epoch:g}", f"{r.median_epochs_run:g}"] for r in reg.itertuples()]
    return table_md(pd.DataFrame(rows, columns=["dataset", "runs", "diverged", "peaked before the last epoch",
                                                "median best epoch (0-based)", "median epochs run"]))


def _check_md(check: pd.DataFrame) -> list[str]:
    if check.empty:
        return ["(no dataset has both zero and zero_warmup runs)"]
    lines = []
    for r in check.itertuples():
        if r.task == "classify":
            lines.append(f"- **{r.dataset}** (classification): zero_warmup "
                         + (f"**equals zero** on all {count(r.pairs, 'paired seed')} (same best epoch; test and validation "
                            f"losses differ by at most {max(r.max_abs_diff_test, r.max_abs_diff_val):.2g}), as it "
                            "must: warm-up changes nothing where the loss sits at the end."
                            if r.identical else
                            f"**differs from zero** (largest |Δ| test {r.max_abs_diff_test:.3g}, val "
                            f"{r.max_abs_diff_val:.3g}; same best epoch: {r.same_best_epoch}) although the loss sits "
                            "at the end: check the harness."))
        elif r.identical:
            lines.append(f"- **{r.dataset}**: zero_warmup equals zero on all {count(r.pairs, 'seed')} (unexpected: warm-up "
                         "should change the training loss here).")
    differ = [r.dataset for r in check.itertuples() if r.task != "classify" and not r.identical]
    if differ:
        lines.append(f"- On the datasets with a loss at every step ({', '.join(differ)}), zero_warmup's runs differ "
                     "from zero's, as expected: they train on fewer steps.")
    return lines


def render(ctx: dict) -> str:
    """REPORT.md from ``ctx``: runs (with :data:`.conditioned.SCORING_COLUMNS`), profiles, table,
    regime, check (warm-up check), answer (Markdown lines), figures (file names), meta, skipped."""
    runs, table = ctx["runs"], ctx["table"]
    scoring, k = _scoring_md(runs)
    pos = position_table(ctx["profiles"], runs, k)
    no_profile = sorted(set(runs["dataset"]) - set(ctx["profiles"]["dataset"] if len(ctx["profiles"]) else []))
    parts = [
        "# Data-conditioned initial states (issue 13) — study `conditioned`, EXPLORATORY", "",
        "Generated by `python -m replication.studies analyze conditioned` (`replication.studies.conditioned`) from the "
        "run directories; do not edit by hand.", "",
        "Does inferring h0 from a sequence's own first steps (an encoder) beat learning one fixed h0, and beat "
        "simply warming up (not scoring the first steps)?", "",
        "## Arms and scored positions", "", *_arms_md(runs), "", *scoring, "",
        "## The answer under protocol v3", "", *ctx.get("v3_answer", []), "",
        ctx.get("v3", ""), "",
        "# Protocol v2's analysis (superseded by v3, kept beside it)", "",
        "## Protocol", "", *_protocol_md(), "",
        "## The answer", "", *ctx["answer"], "",
        "## Every comparison", "",
        "Effect = mean paired difference a − b, % of zero's mean test loss, with the Holm-adjusted t-interval its "
        "verdict is read from (level shown). One Holm family per dataset (its five comparisons).", "",
        _comparisons_md(table), "",
        "## Warm-up where the loss sits at the end", "", *_check_md(ctx["check"]), "",
        "## Regime (for information)", "", _regime_md(ctx["regime"]) if len(ctx["regime"]) else "(no runs)", "",
        "## Loss by position", "",
        f"Mean validation loss at the best epoch over the unscored and the scored steps of the first {MAX_POS} "
        "(mean over seeds of each run's mean)." + (f" No per-position profile for {', '.join(no_profile)} "
                                                    "(classification: one loss per sequence, at its end)."
                                                    if no_profile else ""), "",
        table_md(pos) if len(pos) else "(no per-position profile)", "",
        "## Figures", "",
        *[f"![{f}](figures/{f})\n" for f in ctx["figures"]],
        setup_section(runs, ctx["meta"]), "",
        skipped_section(ctx.get("skipped") or []), "",
        missing_section(runs), "",
    ]
    text = "\n".join(parts)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text
