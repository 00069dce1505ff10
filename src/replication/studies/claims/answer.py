"""The plain-language answer of REPORT.md and where the numbers disagree with the blog, generated from
the tables (comparisons, verdicts, pooled estimates, power, regime): no conclusion is written here in
advance, every sentence is chosen by a count or an interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.analysis.fmt import count, pct
from replication.analysis.protocol import DELTA, REGIME_GATE

from .protocol import BLOG_PPL, BLOG_STRATEGIES, CLAIMS

KINDS = ("better", "worse", "negligible", "inconclusive")


def _counts(rows: pd.DataFrame) -> str:
    """'better on 2 of 5 (a, b), negligible on 3 of 5 (…)': the non-empty verdict groups of ``rows``."""
    n = len(rows)
    parts = []
    for k in KINDS:
        g = rows[rows["verdict"] == k]
        if len(g):
            names = ", ".join(f"{r.dataset} {pct(r.rel_pct)}" for r in g.itertuples())
            parts.append(f"{k} on {len(g)} of {n} ({names})")
    return "; ".join(parts)


def _pooled_line(pooled: pd.DataFrame, claim: str, a: str, delta_pct: float) -> str:
    p = pooled[(pooled["claim"] == claim) & (pooled["a"] == a)] if len(pooled) else pooled
    if not len(p):
        return ""
    r = p.iloc[-1]  # "in regime" when it exists, else "all"
    where = ("inside ±δ: no practically relevant effect on average" if -delta_pct < r.ci_low and r.ci_high < delta_pct
             else "below 0" if r.ci_high < 0 else "above 0" if r.ci_low > 0 else "including 0")
    return (f" Pooled over {r.k} datasets ({r.subset}, random effects): {pct(r.estimate)} "
            f"[{pct(r.ci_low)}, {pct(r.ci_high)}], {where}.")


def _recommendation(gen: pd.DataFrame, fast: pd.DataFrame, power: pd.DataFrame, in_regime: set[str],
                    delta_pct: float) -> str:
    """The answer for `learned`, from its test-loss verdicts on the datasets in the overfitting regime
    (all datasets, said so, when none is)."""
    g = gen[gen["dataset"].isin(in_regime)]
    scope, caveat = f"the {len(g)} dataset{'s' if len(g) != 1 else ''} in the overfitting regime", ""
    if g.empty:
        g, scope = gen, f"the {len(gen)} dataset{'s' if len(gen) != 1 else ''}"
        caveat = (" None of them reached the overfitting regime the blog's claims are about, so this describes "
                  "the test loss at the best epoch, not a C1-generalize verdict.")
    k = {v: int((g["verdict"] == v).sum()) for v in KINDS}
    faster = int((fast["verdict"] == "better").sum())
    slower = int((fast["verdict"] == "worse").sum())
    speed = (f" It trained faster (clean-loss area) on {faster} and slower on {slower} of {len(fast)} datasets."
             if len(fast) else "")
    if k["worse"]:
        rec = (f"Learning the initial state *raised* the test loss on {k['worse']} of {scope}: do not adopt it "
               "blindly; compare on your data.")
        if k["better"]:
            rec += f" It lowered it on {k['better']}."
    elif k["better"] * 2 > len(g):
        rec = (f"Learn it: a learned initial state lowered the test loss by more than δ on {k['better']} of "
               f"{scope} and raised it on none.")
    elif k["better"]:
        rec = (f"A learned initial state lowered the test loss on {k['better']} of {scope} and raised it on none; "
               "it is a cheap option worth trying, not a reliable improvement.")
    elif k["negligible"] == len(g):
        rec = (f"It makes no practical difference: on all of {scope} the test-loss effect is within "
               f"±{delta_pct:g}% of zero's loss. Learning it is harmless (a few parameters) but not an improvement.")
    else:
        worst = power.loc[power["dataset"].isin(g.loc[g["verdict"] == "inconclusive", "dataset"]), "mde_pct_test"]
        mde = f" (the smallest detectable effects there reach {worst.max():.2g}% of zero's loss)" if len(worst) and np.isfinite(worst.max()) else ""
        rec = (f"No practically relevant effect was found: negligible on {k['negligible']} of {scope}, and on "
               f"{k['inconclusive']} the seeds could not tell{mde}. Learning it is harmless but not shown to help.")
    return rec + caveat + speed


def answer_section(table: pd.DataFrame, verdicts: pd.DataFrame, pooled: pd.DataFrame, power: pd.DataFrame,
                   regime: pd.DataFrame, side: pd.DataFrame, delta: float = DELTA) -> str:
    dpct = 100 * delta
    lines = ["## Should I learn my initial state?", ""]
    if table.empty:
        return "\n".join(lines + ["No verdict can be computed from this sweep: no dataset has finished runs of "
                                  "`zero` and of another strategy for the same seed. The tables and figures "
                                  "below show what there is."])
    seeds = table.loc[~table["claim"].str.startswith("H4"), "n"]
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    lines += [f"Effects are paired differences against `zero` as % of zero's loss (negative = lower loss), over "
              f"{count(n, 'paired seed')}; δ = {dpct:g}%. Verdicts as in the protocol above.", ""]
    gen_all = table[table["claim"] == "C1-generalize"]
    fast_all = table[table["claim"] == "C1-faster"]
    in_regime = set(regime.loc[regime["in_regime"].astype(bool), "dataset"]) if len(regime) else set()
    out_regime = sorted(set(gen_all["dataset"]) - in_regime)
    for s in [*BLOG_STRATEGIES, *sorted(set(gen_all["a"]) - set(BLOG_STRATEGIES))]:
        g, f = gen_all[gen_all["a"] == s], fast_all[fast_all["a"] == s]
        if g.empty and f.empty:
            continue
        tag = " (exploratory)" if s not in BLOG_STRATEGIES else ""
        line = f"- **{s}**{tag} — test loss: {_counts(g) or 'no comparison'}."
        line += _pooled_line(pooled, "C1-generalize", s, dpct)
        if len(f):
            line += f" Training speed (clean-loss area): {_counts(f)}."
        lines.append(line)
    if out_regime:
        lines.append(f"- Out of the overfitting regime (fewer than {100 * REGIME_GATE:g}% of runs peaked before their "
                     f"last epoch), so no C1-generalize or C2 verdict there: {', '.join(out_regime)}.")
    learned = _recommendation(gen_all[gen_all["a"] == "learned"], fast_all[fast_all["a"] == "learned"], power,
                              in_regime, dpct) if (gen_all["a"] == "learned").any() else \
        "`learned` was not compared with `zero` in this sweep."
    lines += ["", f"**Answer.** {learned}", ""]
    return "\n".join(lines + disagreement_lines(table, verdicts, side, power))


def disagreement_lines(table: pd.DataFrame, verdicts: pd.DataFrame, side: pd.DataFrame, power: pd.DataFrame) -> list[str]:
    """Per claim, how often the blog's statement held here, and the size of effects against r2rt's."""
    lines = ["**Where our numbers disagree with the blog.**", ""]
    main = verdicts[~verdicts["exploratory"].astype(bool)] if len(verdicts) else verdicts
    for claim, text in CLAIMS.items():
        v = main[main["claim"] == claim] if len(main) else main
        if not len(v):
            continue
        k = {x: list(v.loc[v["verdict"] == x, "dataset"]) for x in
             ("supported", "contradicted", "negligible", "inconclusive", "out of regime")}
        counts = ", ".join(f"{x} on {len(d)}" for x, d in k.items() if d)
        if not k["supported"]:
            plain = "not reproduced on any dataset"
        elif len(k["supported"]) == len(v):
            plain = "reproduced on every dataset"
        else:
            plain = f"reproduced only on {', '.join(k['supported'])}"
        if k["contradicted"]:
            plain += f"; the opposite holds on {', '.join(k['contradicted'])}"
        lines.append(f"- {claim} ({text}): {counts} of {len(v)} — {plain}.")
    lm = side[(side["task"] == "lm") & (side["strategy"] != "zero")] if len(side) else side
    if len(lm):
        blog = [100 * (BLOG_PPL[s] / BLOG_PPL["zero"] - 1) for s in BLOG_STRATEGIES]
        lo, hi = lm["pct_vs_zero"].min(), lm["pct_vs_zero"].max()
        reach = int((lm["pct_vs_zero"] <= max(blog)).sum())
        lines.append(f"- Size: r2rt's PTB table shows {min(blog):+.1f}% to {max(blog):+.1f}% validation perplexity "
                     f"for the non-zero states (one run each); our language-model datasets span {lo:+.2f}% to "
                     f"{hi:+.2f}% ({reach} of {len(lm)} strategy × dataset means reach r2rt's smallest gain).")
    if len(power) and power["mde_pct_test"].notna().any():
        p = power.dropna(subset=["mde_pct_test"]).sort_values("mde_pct_test")
        lines.append(f"- Resolution: with these seeds the smallest test-loss effect detectable at 80% power "
                     f"ranges from {p['mde_pct_test'].iloc[0]:.2g}% ({p['dataset'].iloc[0]}) to "
                     f"{p['mde_pct_test'].iloc[-1]:.2g}% ({p['dataset'].iloc[-1]}) of zero's loss; an "
                     "`inconclusive` where that exceeds an effect of interest means the sweep could not have seen it.")
    return lines
