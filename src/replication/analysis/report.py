"""``REPORT.md``: setup, verdicts with effect sizes and CIs, the blog side by side, figures, and a
plain-language answer that follows from the numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import claims as C


def _fmt(v, digits=3):
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{digits}g}"


def _pct(v):
    return "–" if not np.isfinite(v) else f"{v:+.2f}%"


def _table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def setup_section(runs: pd.DataFrame, meta: dict) -> str:
    ds = (runs.groupby("dataset")
          .agg(task=("task", "first"), regime=("regime", "first"), train_sequences=("train_sequences", "first"),
               train_steps=("train_steps", "first"), strategies=("label", lambda s: ", ".join(sorted(set(s)))),
               seeds=("seed", "nunique"), runs=("seed", "size"), diverged=("diverged", "sum"))
          .reset_index())
    cfg = meta.get("config", {})
    model, trainer, state = cfg.get("model", {}), cfg.get("trainer", {}), cfg.get("init_state", {})
    return "\n".join([
        "## Setup",
        "",
        f"- Profile `{meta.get('profile')}`; command: `{meta.get('command')}`",
        f"- Code: git commit `{meta.get('commit')}`; {len(runs)} runs; wall time of the invocation that wrote this "
        f"report {meta.get('sweep_wall', '–')} (finished runs are skipped, so a rerun is short); training time summed "
        f"over runs {runs['wall_time'].sum() / 60:.1f} min",
        f"- Model: {model.get('cell', '?').upper()} {model.get('num_layers', '?')} × {model.get('hidden_size', '?')} units "
        f"(embedding {model.get('embedding_dim', '?')} for lm); trainer: {trainer.get('optimizer')} lr {trainer.get('lr')}, "
        f"{trainer.get('epochs')} epochs, batch {trainer.get('batch_size')}, TBPTT {trainer.get('tbptt')}, "
        f"grad clip {trainer.get('grad_clip')}; noise σ = {state.get('noise_std')} (noisy, learned_noisy, adaptive's start)",
        "- Seeds are paired: for one seed every strategy starts from the same weights and sees the same data order.",
        "- Loss units: lm nats/token, forecast MSE in train-normalised units, classify nats/sequence.",
        "",
        _table(ds),
    ])


def verdict_section(table: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    out = ["## Verdicts", "", "Rules (fixed before the sweep ran):", ""]
    out += ["> " + line for line in C.__doc__.strip().splitlines()[2:]]
    out += ["", "| claim | statement | supported | contradicted | inconclusive |", "|---|---|---|---|---|"]
    for claim, text in C.CLAIMS.items():
        v = verdicts[verdicts["claim"] == claim]
        cnt = lambda k, v=v: ", ".join(v[v["verdict"] == k]["dataset"]) or "–"  # noqa: E731
        out.append(f"| {claim} | {text} | {cnt('supported')} | {cnt('contradicted')} | {cnt('inconclusive')} |")
    out += ["", "### Every comparison", "",
            "Effect = mean paired difference a − b (negative: a has the lower loss), as % of the zero "
            "strategy's mean on that dataset, with its 95% bootstrap CI; p is Holm-adjusted within the claim.", ""]
    t = table.copy()
    t["effect (% of zero)"] = [f"{_pct(r.rel_pct)} [{_pct(r.rel_ci_low)}, {_pct(r.rel_ci_high)}]" for r in t.itertuples()]
    t["effect (raw)"] = [f"{_fmt(r.mean_diff)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" for r in t.itertuples()]
    t["p (Holm)"] = [_fmt(p, 2) for p in t["p_holm"]]
    out.append(_table(t[["claim", "dataset", "a", "b", "n", "effect (% of zero)", "effect (raw)", "p (Holm)", "verdict"]]))
    h4 = table[table["claim"] == "H4"]
    if len(h4):
        out += ["", "H4 detail, (learned − noisy) test loss as % of zero's: "]
        out += [f"- {r.dataset}: short-many {r.short_rel_pct:+.2f}%, long-few {r.long_rel_pct:+.2f}%" for r in h4.itertuples()]
    return "\n".join(out)


def blog_section(side: pd.DataFrame) -> str:
    out = ["## Side by side with r2rt's PTB numbers", "",
           "Best validation loss (perplexity for lm datasets) as % change against zero, mean over seeds. "
           "r2rt: word-level PTB, 2 × 200 LSTM, one run per variant: learned −9.2%, noisy −5.0%, "
           "learned + noise −10.6% in perplexity.", ""]
    if side.empty:
        return "\n".join(out + ["(no runs)"])
    piv = side.pivot_table(index="dataset", columns="strategy", values="pct_vs_zero")
    cols = [c for c in ("noisy", "learned", "learned_noisy", "adaptive") if c in piv]
    rows = [[ds, *[_pct(piv.loc[ds, c]) for c in cols]] for ds in piv.index]
    rows.append(["**r2rt PTB (blog)**", *[_pct(100 * (b / 162.42 - 1)) if (b := {"noisy": 154.25, "learned": 147.41, "learned_noisy": 145.26}.get(c)) else "–" for c in cols]])
    out.append(_table(pd.DataFrame(rows, columns=["dataset", *cols])))
    return "\n".join(out)


def _count_line(g: pd.DataFrame, what: str) -> str:
    better = list(g[g["verdict"] == "supported"]["dataset"])
    worse = list(g[g["verdict"] == "contradicted"]["dataset"])
    return (f"{what}: {g['rel_pct'].min():+.2f}% to {g['rel_pct'].max():+.2f}% across {len(g)} datasets; "
            f"significantly better on {len(better)} ({', '.join(better) or 'none'}), "
            f"significantly worse on {len(worse)} ({', '.join(worse) or 'none'})")


def answer_section(table: pd.DataFrame, verdicts: pd.DataFrame, side: pd.DataFrame) -> str:
    """A plain-language answer generated from the verdicts and effects, never from expectations."""
    gen = table[table["claim"] == "C1-generalize"]
    fast = table[table["claim"] == "C1-faster"]
    lines = ["## Should I learn my initial state?", "",
             "Effects are paired differences against `zero` as % of zero's loss (negative = lower loss); "
             "\"significantly\" means Holm-adjusted p < 0.05 over 5 paired seeds.", ""]
    for s in ("learned", "noisy", "learned_noisy", "adaptive"):
        g, f = gen[gen["a"] == s], fast[fast["a"] == s]
        if g.empty:
            continue
        lines.append(f"- **{s}** — {_count_line(g, 'test loss')}. {_count_line(f, 'Area under the training curve')}.")
    lg = gen[gen["a"] == "learned"]
    lf = fast[fast["a"] == "learned"]
    n_better, n_worse = int((lg["verdict"] == "supported").sum()), int((lg["verdict"] == "contradicted").sum())
    n_fast = int((lf["verdict"] == "supported").sum())
    if n_worse == 0 and n_better > len(lg) / 2:
        rec = "Learning the initial state lowered the test loss on most datasets and raised it on none: learn it."
    elif n_worse == 0:
        rec = (f"Learning the initial state never hurt significantly, and it did not lower the test loss "
               f"measurably on {'any' if n_better == 0 else 'most'} dataset{'' if n_better == 0 else 's'} "
               f"({n_better} of {len(lg)}); it trained measurably faster on {n_fast} of {len(lf)}. At this scale it is a "
               "cheap, harmless default (a few parameters, ~no time), not a reliable improvement.")
    else:
        rec = "Learning the initial state hurt on some datasets: do not adopt it blindly; compare on your data."
    noisy_fast = fast[fast["a"].isin(["noisy", "learned_noisy", "adaptive"])]
    n_slow = int((noisy_fast["verdict"] == "contradicted").sum())
    if n_slow:
        rec += (f" Adding noise to the initial state made training measurably *slower* in {n_slow} of "
                f"{len(noisy_fast)} comparisons and never measurably improved the test loss.")
    lines += ["", f"**Answer.** {rec}"]
    lines += ["", "**Where our numbers disagree with the blog.**", ""]
    for claim in ("C1-faster", "C1-generalize", "C2", "C3", "H4"):
        v = verdicts[verdicts["claim"] == claim]
        if len(v):
            k = {x: int((v["verdict"] == x).sum()) for x in ("supported", "contradicted", "inconclusive")}
            lines.append(f"- {claim} ({C.CLAIMS[claim]}): supported on {k['supported']}, contradicted on "
                         f"{k['contradicted']}, inconclusive on {k['inconclusive']} of {len(v)}.")
    lm = side[side["task"] == "lm"] if len(side) else side
    if len(lm):
        rng = lm[lm["strategy"] != "zero"]["pct_vs_zero"]
        lines.append(f"- Size of the effect: r2rt's PTB table shows −5% to −11% perplexity for the non-zero states; "
                     f"on our character-level Shakespeare models the same comparison spans {rng.min():+.2f}% to "
                     f"{rng.max():+.2f}%. We do not reproduce effects of that size (r2rt: one run per variant, "
                     "2 × 200 word-level LSTM, overfitting after epoch 11–13; ours: 1 × 64, 5 seeds, still improving at the last epoch).")
    c3 = verdicts[(verdicts["claim"] == "C3") & (verdicts["verdict"] == "supported")]
    if len(c3):
        lines.append("- C3's equivalence margin is ±1% of zero's loss: where no strategy moves the loss by 1%, "
                     "\"supported\" only says the noise did not matter *either*, as nothing did.")
    return "\n".join(lines)


def q5_section(curves: pd.DataFrame, table: pd.DataFrame) -> str:
    """Q5, how large should the noise be: what the adaptive strategy settled on, beside σ = 0.3."""
    cols = [c for c in curves.columns if c.startswith("state/") and c.endswith("_noise_scale")]
    if curves.empty or not cols:
        return ""
    a = curves[curves["label"] == "adaptive"]
    last = a[a["epoch"] == a.groupby(["dataset", "seed"])["epoch"].transform("max")]
    scale = last.groupby("dataset")[cols].mean()
    gen = table[(table["claim"] == "C1-generalize") & table["a"].isin(["noisy", "adaptive"])]
    piv = gen.pivot_table(index="dataset", columns="a", values="rel_pct")
    rows = [[ds, *[_fmt(scale.loc[ds, c]) for c in cols],
             *[_pct(piv.loc[ds, k]) if ds in piv.index and k in piv else "–" for k in ("noisy", "adaptive")]]
            for ds in scale.index]
    names = [c.split("/")[1].replace("_noise_scale", "") for c in cols]
    df = pd.DataFrame(rows, columns=["dataset", *[f"adaptive σ of {n} at the end" for n in names],
                                     "noisy (σ=0.3) test vs zero", "adaptive test vs zero"])
    return "\n".join([
        "## Q5: how large should the noise be?", "",
        "The `adaptive` strategy starts at σ = 0.3 and rescales it by the running size of the gradient that "
        "reaches h0 (relative to the first one it saw). Where it ends shows how much noise the start-of-sequence "
        "error justifies; compare with the fixed σ = 0.3 of `noisy`.", "", _table(df)])


def render(runs, table, verdicts, side, meta: dict, figures: list[str], curves: pd.DataFrame | None = None) -> str:
    parts = [
        f"# initstate replication report — profile `{meta.get('profile')}`",
        "",
        "Generated by `experiments/analyze.py` from the run directories; do not edit by hand.",
        "",
        answer_section(table, verdicts, side),
        "",
        verdict_section(table, verdicts),
        "",
        blog_section(side),
        "",
        q5_section(curves if curves is not None else pd.DataFrame(), table),
        "",
        "## Figures",
        "",
        *[f"![{f}](figures/{f})\n" for f in figures],
        setup_section(runs, meta),
        "",
    ]
    return "\n".join(parts)
