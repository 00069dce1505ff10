"""Protocol v2 applied to a runs table: every comparison of every claim on every dataset
(:func:`comparisons`), the verdict of each claim on each dataset (:func:`verdicts`) and their
sensitivity to the margin δ (:func:`sensitivity`). The rules are :mod:`.protocol`'s text; the
statistics are :mod:`.stats`.

``comparisons`` columns: claim, family (Holm's family within the claim: the dataset, or
``dataset [label]`` for an exploratory label), dataset, metric, a, b, expect (lower | higher | equal:
the sign of a − b the claim predicts), exploratory, n (paired seeds), mean_diff (a − b, raw units),
se, df, scale (zero's mean), delta (δ in raw units), rel_pct / rel_se (effect and its SE, % of
scale), p (two-sided), p_holm, p_equiv, level (of the interval), ci_low / ci_high (raw),
rel_ci_low / rel_ci_high (%), verdict (better | worse | negligible | inconclusive; better = a − b
below 0), in_training_rel_pct (C1-faster only: the same comparison on the in-training loss, a
secondary column that decides nothing), short_rel_pct / long_rel_pct (H4: the two arms)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.analysis import stats as S
from replication.analysis.families import JUDGED, judge_families
from replication.analysis.protocol import (
    DELTA,
    EARLY,
    FASTER,
    GENERALIZE,
    REGIME_GATE,
    SENSITIVITY_DELTAS,
)

from .protocol import BLOG_STRATEGIES, CLAIMS, GATED, PAIRS

__all__ = ["CLAIMS", "PAIRS", "comparisons", "verdicts", "sensitivity", "claim_verdict"]

COLUMNS = ["claim", "family", "dataset", "metric", "a", "b", "expect", "exploratory", "n", "mean_diff", "se", "df",
           "scale", "delta", "rel_pct", "rel_se", "p", "p_holm", "p_equiv", "level", "ci_low", "ci_high",
           "rel_ci_low", "rel_ci_high", "verdict", "in_training_rel_pct", "short_rel_pct", "long_rel_pct"]
VERDICT_COLUMNS = ["claim", "dataset", "verdict", "comparisons", "exploratory", "peak_before_last", "detail"]


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[~runs["diverged"].astype(bool)]


def _wide(runs: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    """``seed × label`` values of ``metric`` on one dataset (finished runs; one run per cell)."""
    if metric not in runs:
        return pd.DataFrame()
    g = runs[runs["dataset"] == dataset]
    return g.pivot_table(index="seed", columns="label", values=metric, aggfunc="first")


def _scale(wide: pd.DataFrame, b: str) -> float:
    """Zero's mean on the dataset (b's mean where there is no zero run): the unit of the effect."""
    for ref in ("zero", b):
        if ref in wide and wide[ref].notna().any():
            return float(wide[ref].mean())
    return np.nan


def _row(claim, ds, metric, a, b, expect, diffs, scale, delta, exploratory=False, **extra) -> dict:
    est, se, df, n = S.paired(diffs)
    return {"claim": claim, "family": f"{ds} [{a}]" if exploratory else ds, "dataset": ds, "metric": metric,
            "a": a, "b": b, "expect": expect, "exploratory": exploratory, "n": n, "mean_diff": est, "se": se,
            "df": df, "scale": scale, "delta": delta * abs(scale), **extra}


def comparisons(runs: pd.DataFrame, delta: float = DELTA) -> pd.DataFrame:
    """Every comparison the runs allow (columns: :data:`COLUMNS`), with its test and verdict at δ."""
    ok = _ok(runs)
    rows = []
    for ds in sorted(ok["dataset"].unique()):
        wide = {m: _wide(ok, ds, m) for m in (FASTER, GENERALIZE, "auc_train_in_training")}
        labels = set(ok.loc[ok["dataset"] == ds, "label"])
        others = [x for x in BLOG_STRATEGIES if x in labels] + sorted(labels - set(BLOG_STRATEGIES) - {"zero"})
        for claim, metric in (("C1-faster", FASTER), ("C1-generalize", GENERALIZE)):
            w = wide[metric]
            for a in others:
                if "zero" not in w or a not in w:
                    continue
                d = (w[a] - w["zero"]).dropna()
                if d.empty:
                    continue  # e.g. no clean curves in an old sweep: no verdict rather than a made-up one
                extra = {}
                if claim == "C1-faster":
                    wi = wide["auc_train_in_training"]
                    if a in wi and "zero" in wi:
                        di, zi = (wi[a] - wi["zero"]).mean(), wi["zero"].mean()
                        extra["in_training_rel_pct"] = 100 * di / zi if zi else np.nan
                rows.append(_row(claim, ds, metric, a, "zero", "lower", d, _scale(w, "zero"), delta,
                                 exploratory=a not in BLOG_STRATEGIES, **extra))
        w = wide[GENERALIZE]
        for claim, a, b, expect in (("C2", "learned", "noisy", "lower"), ("C3", "learned_noisy", "learned", "equal")):
            if a in w and b in w and not (d := (w[a] - w[b]).dropna()).empty:
                rows.append(_row(claim, ds, GENERALIZE, a, b, expect, d, _scale(w, b), delta))
    rows += _h4_rows(ok, delta)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in JUDGED])
    return judge_families(table, columns=COLUMNS)


def _h4_rows(ok: pd.DataFrame, delta: float) -> list[dict]:
    """Per pair and strategy s ∈ {learned, noisy}: (s − zero)/zero's mean on the short-many member minus
    the same on the long-few member (Welch: the members are separate samples). Units: fractions of zero."""
    rows = []
    for claim, metric in (("H4", GENERALIZE), ("H4-early", EARLY)):
        for pair, (short, long) in PAIRS.items():
            for s, expect in (("learned", "lower"), ("noisy", "higher")):
                rel = []
                for ds in (short, long):
                    w = _wide(ok, ds, metric)
                    z = _scale(w, "zero") if "zero" in w else np.nan
                    rel.append((w[s] - w["zero"]).dropna().to_numpy() / z if s in w and np.isfinite(z) else np.array([]))
                if not (len(rel[0]) and len(rel[1])):
                    continue
                est, se, df, n = S.welch(*rel)
                rows.append({"claim": claim, "family": pair, "dataset": pair, "metric": f"{metric} (% of zero)",
                             "a": s, "b": "zero", "expect": expect, "exploratory": False, "n": n, "mean_diff": est,
                             "se": se, "df": df, "scale": 1.0, "delta": delta,
                             "short_rel_pct": 100 * rel[0].mean(), "long_rel_pct": 100 * rel[1].mean()})
    return rows


def claim_verdict(verdicts: list[str], expects: list[str]) -> str:
    """A claim's verdict on one dataset from its comparisons' verdicts and the predicted signs:
    equivalence (expect "equal"): supported iff negligible, contradicted iff better or worse; else
    supported iff all go the predicted way, contradicted iff any goes the other way, negligible iff all
    negligible, inconclusive otherwise."""
    if not verdicts:
        return "inconclusive"
    way = {"lower": "better", "higher": "worse"}
    if all(e == "equal" for e in expects):
        if all(v == "negligible" for v in verdicts):
            return "supported"
        return "contradicted" if any(v in ("better", "worse") for v in verdicts) else "inconclusive"
    if all(v == way[e] for v, e in zip(verdicts, expects)):
        return "supported"
    if any(v in ("better", "worse") and v != way[e] for v, e in zip(verdicts, expects)):
        return "contradicted"
    return "negligible" if all(v == "negligible" for v in verdicts) else "inconclusive"


def verdicts(table: pd.DataFrame, regime: pd.DataFrame | None = None) -> pd.DataFrame:
    """One verdict per claim and dataset (exploratory labels: ``claim [label]``); columns
    :data:`VERDICT_COLUMNS`. ``regime`` (from :func:`.summaries.regime`) applies the regime gate to
    C1-generalize and C2; without it nothing is gated."""
    if table.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    frac = regime.set_index("dataset")["peak_before_last"] if regime is not None and len(regime) else None
    out = []
    for (claim, _family), g in table.groupby(["claim", "family"], sort=False):
        ds, explo = g["dataset"].iloc[0], bool(g["exploratory"].iloc[0])
        name = f"{claim} [{g['a'].iloc[0]}]" if explo else claim
        verdict = claim_verdict(list(g["verdict"]), list(g["expect"]))
        f = frac.get(ds, np.nan) if frac is not None else np.nan
        if claim in GATED and frac is not None and not (f >= REGIME_GATE):
            verdict = "out of regime"
        out.append({"claim": name, "dataset": ds, "verdict": verdict, "comparisons": len(g), "exploratory": explo,
                    "peak_before_last": f,
                    "detail": ", ".join(f"{a} {v}" for a, v in zip(g["a"], g["verdict"]))})
    v = pd.DataFrame(out, columns=VERDICT_COLUMNS)
    order = {c: i for i, c in enumerate(CLAIMS)}
    v["_o"] = [order.get(c.split(" [")[0], 99) + 0.5 * e for c, e in zip(v["claim"], v["exploratory"])]
    return v.sort_values(["_o", "claim"], kind="stable").drop(columns="_o").reset_index(drop=True)


def sensitivity(runs: pd.DataFrame, regime: pd.DataFrame | None = None,
                deltas=SENSITIVITY_DELTAS) -> pd.DataFrame:
    """Claim × dataset verdicts at each margin in ``deltas``: columns claim, dataset, ``δ=0.5%`` …"""
    cols = {f"δ={100 * d:g}%": verdicts(comparisons(runs, d), regime) for d in deltas}
    if all(v.empty for v in cols.values()):
        return pd.DataFrame(columns=["claim", "dataset", *cols])
    base = next(iter(cols.values()))[["claim", "dataset"]]
    for name, v in cols.items():
        base = base.merge(v[["claim", "dataset", "verdict"]].rename(columns={"verdict": name}),
                          on=["claim", "dataset"], how="outer")
    return base
