"""``REPORT.md``: the protocol (before any result), the plain-language answer, verdicts with effects
and intervals, sensitivity to δ, regime and power per dataset, H4, the pooled estimates, the blog side
by side, Q5, figures, setup, skipped files and the v1 appendix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.analysis.fmt import num, pct, table_md
from replication.analysis.protocol import DELTA
from replication.analysis.sections import missing_section, setup_section, skipped_section

from .answer import answer_section
from .protocol import BLOG_PPL, CLAIMS, WHY_V2, protocol_text


def protocol_section(delta: float = DELTA) -> str:
    return "\n".join(["## Protocol v2 (method, fixed before this sweep's results)", "", WHY_V2, "",
                      protocol_text(delta)])


def grid_md(verdicts: pd.DataFrame, value: str = "verdict") -> str:
    """Claim × dataset table of ``value``; out-of-regime cells carry the share of runs peaking early."""
    v = verdicts.copy()
    cell = [f"out of regime ({100 * f:.0f}%)" if x == "out of regime" and np.isfinite(f) else x
            for x, f in zip(v[value], v["peak_before_last"].astype(float))]
    v["cell"] = cell
    piv = v.pivot(index="claim", columns="dataset", values="cell").reindex(list(dict.fromkeys(v["claim"])))
    return table_md(piv.fillna("").reset_index())


def verdict_section(table: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    out = ["## Verdicts", ""]
    if verdicts.empty:
        return "\n".join(out + ["No verdict: no comparison could be computed (see the answer above)."])
    out += ["Claim × dataset under protocol v2 (exploratory labels in brackets, outside the C1 bundle). "
            "The claims:", ""]
    out += [f"- **{c}**: {t}" for c, t in CLAIMS.items()]
    h4 = verdicts["claim"].str.startswith("H4")
    out += ["", grid_md(verdicts[~h4])]
    if h4.any():
        out += ["", "H4 (per pair of a short-many and a long-few dataset):", "", grid_md(verdicts[h4])]
    out += ["", "### Every comparison", "",
            "Effect = mean paired difference a − b as % of zero's mean (H4: percentage points), with the "
            "Holm-adjusted t-interval its verdict is read from (level shown); p (Holm) tests a − b = 0, "
            "p_equiv the equivalence within ±δ. For C1-faster, the same comparison on the in-training loss "
            "(noise included) is a secondary column that decides nothing.", ""]
    t = table.copy()
    t["effect (% of zero) [interval]"] = [f"{pct(r.rel_pct)} [{pct(r.rel_ci_low)}, {pct(r.rel_ci_high)}]"
                                          for r in t.itertuples()]
    t["level"] = [num(100 * x, 4) + "%" if np.isfinite(x) else "–" for x in t["level"]]
    t["p (Holm)"] = [num(p, 2) for p in t["p_holm"]]
    t["p_equiv"] = [num(p, 2) for p in t["p_equiv"]]
    t["in-training AUC (secondary)"] = [pct(x) if c == "C1-faster" else "" for x, c in
                                        zip(t["in_training_rel_pct"], t["claim"])]
    t["a"] = [f"{a} (exploratory)" if e else a for a, e in zip(t["a"], t["exploratory"])]
    out.append(table_md(t[["claim", "dataset", "a", "b", "n", "effect (% of zero) [interval]", "level", "p (Holm)",
                           "p_equiv", "verdict", "in-training AUC (secondary)"]]))
    return "\n".join(out)


def sensitivity_section(sens: pd.DataFrame) -> str:
    if sens.empty:
        return ""
    return "\n".join(["## Sensitivity to the margin δ", "",
                      "The same verdicts with δ = 0.5%, 1% (the protocol's) and 2% of zero's loss.", "",
                      table_md(sens.fillna("–"))])


def regime_power_section(regime: pd.DataFrame, power: pd.DataFrame) -> str:
    if regime.empty:
        return ""
    df = regime.merge(power, on="dataset", how="left")
    rows = [[r.dataset, r.runs, r.diverged, f"{100 * r.peak_before_last:.0f}%" if np.isfinite(r.peak_before_last) else "–",
             "yes" if r.in_regime else "no", num(r.median_best_epoch), num(r.median_epochs_run),
             num(r.seeds), num(r.family), num(r.mde_sd), num(r.mde_pct_test, 2) + "%" if np.isfinite(r.mde_pct_test) else "–",
             num(r.mde_pct_auc, 2) + "%" if np.isfinite(r.mde_pct_auc) else "–"] for r in df.itertuples()]
    cols = ["dataset", "runs", "diverged", "peaked before last epoch", "in regime (≥ 80%)",
            "median best epoch (0-based)", "median epochs run", "paired seeds", "m (Holm)", "MDE (SD)",
            "MDE test loss (% of zero)", "MDE clean-train area (% of zero)"]
    return "\n".join(["## Regime and power per dataset", "",
                      "Share of non-diverged runs whose best validation epoch precedes their last epoch (the "
                      "regime gate), and the minimum detectable effect (MDE) at 80% power of the paired t-test "
                      "at α/m with the seeds used.", "", table_md(pd.DataFrame(rows, columns=cols))])


def h4_section(table: pd.DataFrame) -> str:
    h4 = table[table["claim"].str.startswith("H4")] if len(table) else table
    if not len(h4):
        return ""
    out = ["## H4 in detail", "",
           "(s − zero) as % of zero's loss in each arm, and their difference (short-many minus long-few; "
           "H4 predicts < 0 for learned and > 0 for noisy). The verdict is that of the difference: better = "
           "significantly below 0, worse = above, negligible = inside ±δ points.", "",
           "| endpoint | pair | s | short-many | long-few | difference [interval] | verdict | as H4 predicts? |",
           "|---|---|---|---|---|---|---|---|"]
    way = {"lower": "better", "higher": "worse"}
    said = lambda r: ("yes" if r.verdict == way[r.expect] else "opposite" if r.verdict in way.values()  # noqa: E731
                      else "–")
    out += [f"| {r.claim} | {r.dataset} | {r.a} | {pct(r.short_rel_pct)} | {pct(r.long_rel_pct)} | "
            f"{pct(r.rel_pct)} [{pct(r.rel_ci_low)}, {pct(r.rel_ci_high)}] | {r.verdict} | {said(r)} |"
            for r in h4.itertuples()]
    return "\n".join(out)


def pooled_section(pooled: pd.DataFrame) -> str:
    if pooled.empty:
        return ""
    rows = [[r.claim, r.a, r.b, r.subset, r.k, f"{pct(r.estimate)} [{pct(r.ci_low)}, {pct(r.ci_high)}]",
             num(r.tau2), f"{100 * r.i2:.0f}%" if np.isfinite(r.i2) else "–"] for r in pooled.itertuples()]
    return "\n".join(["## Across datasets", "",
                      "DerSimonian–Laird random-effects estimates (statsmodels `combine_effects`) of each "
                      "comparison's % effect, 95% interval; H4 pooled over the pairs. See `figures/forest_plot.png`.",
                      "", table_md(pd.DataFrame(rows, columns=["claim", "a", "b", "datasets", "k",
                                                               "pooled effect [95% CI]", "τ²", "I²"]))])


def blog_section(side: pd.DataFrame) -> str:
    out = ["## Side by side with r2rt's PTB numbers", "",
           "Best validation loss (perplexity for lm datasets) as % change against zero, mean over seeds. "
           "r2rt: word-level PTB, 2 × 200 LSTM, one run per variant.", ""]
    if side.empty:
        return "\n".join(out + ["(no dataset with finished zero runs)"])
    piv = side.pivot_table(index="dataset", columns="strategy", values="pct_vs_zero")
    cols = [c for c in ("noisy", "learned", "learned_noisy", "adaptive") if c in piv]
    rows = [[ds, *[pct(piv.loc[ds, c]) for c in cols]] for ds in piv.index]
    rows.append(["**r2rt PTB (blog)**", *[pct(100 * (BLOG_PPL[c] / BLOG_PPL["zero"] - 1)) if c in BLOG_PPL else "–"
                                         for c in cols]])
    return "\n".join(out + [table_md(pd.DataFrame(rows, columns=["dataset", *cols]))])


def q5_section(curves: pd.DataFrame, table: pd.DataFrame) -> str:
    """Q5, how large should the noise be: what the adaptive strategy settled on, beside σ = 0.3."""
    cols = [c for c in curves.columns if c.startswith("state/") and c.endswith("_noise_scale")]
    a = curves[curves["label"] == "adaptive"] if cols else curves.iloc[0:0]
    if a.empty:
        return ""
    last = a[a["epoch"] == a.groupby(["dataset", "seed"])["epoch"].transform("max")]
    scale = last.groupby("dataset")[cols].mean()
    gen = table[(table["claim"] == "C1-generalize") & table["a"].isin(["noisy", "adaptive"])] if len(table) else table
    piv = gen.pivot_table(index="dataset", columns="a", values="rel_pct") if len(gen) else pd.DataFrame()
    rows = [[ds, *[num(scale.loc[ds, c]) for c in cols],
             *[pct(piv.loc[ds, k]) if ds in piv.index and k in piv else "–" for k in ("noisy", "adaptive")]]
            for ds in scale.index]
    names = [c.split("/")[1].replace("_noise_scale", "") for c in cols]
    df = pd.DataFrame(rows, columns=["dataset", *[f"adaptive σ of {n} at the end" for n in names],
                                     "noisy (σ=0.3) test vs zero", "adaptive test vs zero"])
    return "\n".join(["## Q5: how large should the noise be?", "",
                      "The `adaptive` strategy starts at σ = 0.3 and rescales it by the running size of the gradient "
                      "that reaches h0. Where it ends shows how much noise the start-of-sequence error justifies.",
                      "", table_md(df)])


V1_TEXT = ("v1 (the rules these results replaced): C1-faster on the in-training loss (noise included), Holm across "
           "all datasets of a claim, percentile-bootstrap intervals, any significant effect counted (no margin), C1 "
           "bundled `adaptive`, no regime gate, H4 as one (learned − noisy) contrast. v1 had no `negligible` verdict. "
           "The v1 verdicts come from a different, earlier sweep (see its own report).")
V2_TEXT = ("The earlier run's protocol v2 verdicts (`<results>_v2/`, the table v3 was fixed after), beside v2's "
           "verdicts on this run. This run differs from it by v3's data changes only (20 synthetic_long evaluation "
           "sequences instead of 2, the test loss scored every epoch), so a changed cell is what those changes and "
           "fresh training did, with the same v2 rules.")


def earlier_section(old: pd.DataFrame | None, verdicts: pd.DataFrame, tag: str = "v1", text: str = V1_TEXT) -> str:
    """An appendix: an earlier table's verdicts (``tag``) beside this run's v2 verdicts."""
    if old is None or old.empty or not {"claim", "dataset", "verdict"} <= set(old.columns):
        return ""
    if "exploratory" in old:
        old = old[~old["exploratory"].astype(bool)]
    v2 = verdicts[~verdicts["exploratory"].astype(bool)][["claim", "dataset", "verdict"]] if len(verdicts) else \
        pd.DataFrame(columns=["claim", "dataset", "verdict"])
    suffixes = (f" {tag}", " v2") if tag != "v2" else (" v2, earlier run", " v2, this run")
    both = old[["claim", "dataset", "verdict"]].merge(v2, on=["claim", "dataset"], how="outer", suffixes=suffixes)
    title = "v2 verdicts of the earlier run beside this run's" if tag == "v2" else f"{tag} verdicts beside v2"
    return "\n".join([f"## Appendix: {title}", "", text, "", table_md(both.fillna("–"))])


def render(ctx: dict) -> str:
    """The whole report from ``ctx``: runs, curves, table, verdicts, regime, power, pooled, sensitivity,
    side, meta, figures (file names), skipped, v1 and v2_earlier (earlier verdict tables or None), r2rt (its section's markdown, optional)."""
    runs, table, verdicts = ctx["runs"], ctx["table"], ctx["verdicts"]
    meta = ctx["meta"]
    parts = [
        f"# initstate replication report — study `{meta.get('study')}`", "",
        "Generated by `python -m replication.studies analyze` from the run directories; do not edit by hand.", "",
        "## The answer under protocol v3", "", *ctx.get("v3_answer", ()), "",
        ctx.get("v3", ""), "",
        "# Protocol v2's analysis (superseded by v3 above; kept unchanged so the change can be judged)", "",
        protocol_section(), "",
        answer_section(table, verdicts, ctx["pooled"], ctx["power"], ctx["regime"], ctx["side"]), "",
        verdict_section(table, verdicts), "",
        sensitivity_section(ctx["sensitivity"]), "",
        regime_power_section(ctx["regime"], ctx["power"]), "",
        h4_section(table), "",
        pooled_section(ctx["pooled"]), "",
        blog_section(ctx["side"]), "",
        *ctx.get("extensions", ()), "",
        q5_section(ctx["curves"], table), "",
        "## Figures", "",
        *[f"![{f}](figures/{f})\n" for f in ctx["figures"]],
        setup_section(runs, meta), "",
        skipped_section(ctx.get("skipped") or []), "",
        missing_section(runs), "",
        earlier_section(ctx.get("v2_earlier"), verdicts, "v2", V2_TEXT), "",
        earlier_section(ctx.get("v1"), verdicts), "",
    ]
    text = "\n".join(parts)
    while "\n\n\n" in text:  # empty sections leave blank runs
        text = text.replace("\n\n\n", "\n\n")
    return text
