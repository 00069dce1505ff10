"""The data-conditioned initial-state study (issue 13, ``--profile conditioned``), EXPLORATORY: does
inferring h0 from a sequence's own first k steps (``encoder``) beat learning one fixed h0
(``learned``), and beat simply not scoring the first k steps (``zero_warmup``)? Not the blog's claims.

Every run is scored on the steps t ≥ k of each sequence (``trainer.score_from`` or
``trainer.warmup``), read here from each run's ``config.yaml`` (:func:`scoring`). The comparisons use
protocol v2's statistics (:mod:`.stats`) and margin (:data:`.protocol.DELTA`); the five comparisons of
a dataset form one Holm family. The report and figures are :mod:`.conditioned_report`.

``conditioned_comparisons`` columns (:data:`COLUMNS`): dataset, family (Holm's: the dataset), metric
(test_at_best), a, b, question (what a vs b asks), exploratory (always True), n (paired seeds),
mean_diff (a − b, raw units), se, df, scale (zero's mean test loss on the dataset), delta (δ in raw
units), rel_pct / rel_se (effect and its SE, % of scale), p (two-sided paired t-test), p_holm,
p_equiv, level (of the interval), ci_low / ci_high (raw), rel_ci_low / rel_ci_high (%), verdict
(better | worse | negligible | inconclusive; better = a's loss is lower).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from replication.analysis import stats as S
from replication.analysis.families import judge_families
from replication.analysis.protocol import DELTA, GENERALIZE

LABELS = ("zero", "learned", "encoder", "zero_warmup")
# (a, b, what "a better than b" would say); the order is the report's.
COMPARISONS = (
    ("learned", "zero", "does learning one fixed h0 beat zero?"),
    ("encoder", "zero", "does inferring h0 from the first steps beat zero?"),
    ("zero_warmup", "zero", "does also leaving the first steps out of training beat zero?"),
    ("encoder", "learned", "does inferring h0 beat learning one fixed h0?"),
    ("encoder", "zero_warmup", "does inferring h0 beat simply warming up?"),
)
COLUMNS = ["dataset", "family", "metric", "a", "b", "question", "exploratory", "n", "mean_diff", "se", "df", "scale",
           "delta", "rel_pct", "rel_se", "p", "p_holm", "p_equiv", "level", "ci_low", "ci_high", "rel_ci_low",
           "rel_ci_high", "verdict"]
SCORING_COLUMNS = ["warmup", "score_from", "scored_from", "encoder_steps"]
WARMUP_CHECK_COLUMNS = ["dataset", "task", "pairs", "max_abs_diff_test", "max_abs_diff_val", "same_best_epoch",
                        "identical"]
# Relative tolerance under which zero_warmup's losses count as zero's (they should agree to the bit on CPU).
IDENTICAL_RTOL = 1e-9


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def scoring(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus :data:`SCORING_COLUMNS` from each run's ``config.yaml``: trainer.warmup,
    trainer.score_from, scored_from = max of the two (the first scored step, 0-based) and
    init_state.encoder_steps (encoder runs only). Where the config is missing or unreadable, the
    row's own values when ``runs`` already has them (a runs.csv re-analysed without its run
    directories), else NaN."""
    import yaml

    rows = []
    for i, (d, strategy) in enumerate(zip(runs["run_dir"], runs["strategy"])):
        try:
            cfg = yaml.safe_load((Path(d) / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            cfg = {}
        if not cfg and set(SCORING_COLUMNS) <= set(runs.columns):
            rows.append({c: _num(runs[c].iloc[i]) for c in SCORING_COLUMNS})
            continue
        t = cfg.get("trainer") if isinstance(cfg.get("trainer"), dict) else {}
        s = cfg.get("init_state") if isinstance(cfg.get("init_state"), dict) else {}
        w, f = _num(t.get("warmup", 0 if t else None)), _num(t.get("score_from", 0 if t else None))
        rows.append({"warmup": w, "score_from": f, "scored_from": np.nanmax([w, f]) if t else np.nan,
                     "encoder_steps": _num(s.get("encoder_steps")) if strategy == "encoder" else np.nan})
    return pd.concat([runs.drop(columns=[c for c in SCORING_COLUMNS if c in runs]).reset_index(drop=True),
                      pd.DataFrame(rows, columns=SCORING_COLUMNS)], axis=1)


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[~runs["diverged"].astype(bool)] if len(runs) else runs


def comparisons(runs: pd.DataFrame, delta: float = DELTA, metric: str = GENERALIZE) -> pd.DataFrame:
    """The five comparisons of :data:`COMPARISONS` per dataset (those whose arms both ran), paired by
    seed on ``metric``, judged under protocol v2 with one Holm family per dataset. Columns :data:`COLUMNS`."""
    ok = _ok(runs)
    rows = []
    for ds in sorted(ok["dataset"].unique()) if len(ok) else []:
        w = ok[ok["dataset"] == ds].pivot_table(index="seed", columns="label", values=metric, aggfunc="first")
        scale = float(w["zero"].mean()) if "zero" in w and w["zero"].notna().any() else np.nan
        for a, b, q in COMPARISONS:
            if a not in w or b not in w or (d := (w[a] - w[b]).dropna()).empty:
                continue
            est, se, df, n = S.paired(d)
            rows.append({"dataset": ds, "family": ds, "metric": metric, "a": a, "b": b, "question": q,
                         "exploratory": True, "n": n, "mean_diff": est, "se": se, "df": df, "scale": scale,
                         "delta": delta * abs(scale)})
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    return judge_families(pd.DataFrame(rows), by=("family",), columns=COLUMNS)


def warmup_check(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset with both zero and zero_warmup runs (columns :data:`WARMUP_CHECK_COLUMNS`): paired
    seeds, the largest |zero_warmup − zero| of the test loss and of the best validation loss, whether
    every pair stopped at the same best epoch, and ``identical`` (all three agree, losses within
    :data:`IDENTICAL_RTOL` of zero's). Expected on classification (the loss sits at the last step)."""
    ok, rows = _ok(runs), []
    for ds, g in ok.groupby("dataset") if len(ok) else []:
        z, w = (g[g["label"] == x].set_index("seed") for x in ("zero", "zero_warmup"))
        seeds = z.index.intersection(w.index)
        if not len(seeds):
            continue
        dt = (w.loc[seeds, GENERALIZE] - z.loc[seeds, GENERALIZE]).abs().max()
        dv = (w.loc[seeds, "best_val_loss"] - z.loc[seeds, "best_val_loss"]).abs().max()
        same = bool((w.loc[seeds, "best_epoch"] == z.loc[seeds, "best_epoch"]).all())
        tol = IDENTICAL_RTOL * max(abs(float(z.loc[seeds, GENERALIZE].mean())), 1e-12)
        rows.append({"dataset": ds, "task": g["task"].iloc[0], "pairs": len(seeds), "max_abs_diff_test": float(dt),
                     "max_abs_diff_val": float(dv), "same_best_epoch": same,
                     "identical": bool(same and dt <= tol and dv <= tol)})
    return pd.DataFrame(rows, columns=WARMUP_CHECK_COLUMNS)


# How each comparison verdict of "encoder vs X" reads in the answer.
_SAYS = {"better": "**yes**", "worse": "**no**, it is worse", "negligible": "**no**, the difference is negligible "
         "(within ±δ)", "inconclusive": "**undecided**, the interval is too wide", None: "not measured (an arm is missing)"}


def dataset_answer(table: pd.DataFrame, ds: str) -> dict:
    """``{"vs_learned", "vs_warmup", "answer"}`` for one dataset: the verdicts of encoder vs learned and
    encoder vs zero_warmup, and the answer: "yes" iff both are better, "no" iff either is worse or
    negligible (decided: not better), else "undecided"."""
    g = table[table["dataset"] == ds]

    def verdict(b: str):
        r = g[(g["a"] == "encoder") & (g["b"] == b)]
        return r["verdict"].iloc[0] if len(r) else None

    vl, vw = verdict("learned"), verdict("zero_warmup")
    answer = ("yes" if vl == vw == "better" else "no" if {vl, vw} & {"worse", "negligible"} else "undecided")
    return {"vs_learned": vl, "vs_warmup": vw, "answer": answer}


def _effect(table: pd.DataFrame, ds: str, a: str, b: str) -> str:
    r = table[(table["dataset"] == ds) & (table["a"] == a) & (table["b"] == b)]
    if not len(r):
        return ""
    r = r.iloc[0]
    return f": {r['rel_pct']:+.2f}% of zero's loss [{r['rel_ci_low']:+.2f}, {r['rel_ci_high']:+.2f}] ({r['verdict']})"


def _count(per: dict, key: str, value: str) -> list[str]:
    return [ds for ds, a in per.items() if a[key] == value]


def answer(table: pd.DataFrame, check: pd.DataFrame | None = None) -> list[str]:
    """The plain answer as Markdown lines, computed from the comparison verdicts: one bullet per
    dataset (encoder vs learned, encoder vs zero_warmup, the answer) and an overall line (how many
    datasets say yes / no / undecided to each half). ``check`` (:func:`warmup_check`) adds, for a
    dataset where zero_warmup's runs equal zero's, that warming up changes nothing there."""
    dss = sorted(table["dataset"].unique()) if len(table) else []
    if not dss:
        return ["No answer: no dataset has the encoder and another arm finished for the same seed."]
    same = set(check.loc[check["identical"].astype(bool), "dataset"]) if check is not None and len(check) else set()
    per = {ds: dataset_answer(table, ds) for ds in dss}
    lines = []
    for ds in dss:
        a = per[ds]
        note = (" Warm-up changes nothing here (zero_warmup's runs equal zero's, checked below), so 'beats warming "
                "up' is 'beats zero' on this dataset." if ds in same else "")
        lines.append(f"- **{ds}: {a['answer']}.** Beats learned? {_SAYS[a['vs_learned']]}"
                     f"{_effect(table, ds, 'encoder', 'learned')}. Beats warming up? {_SAYS[a['vs_warmup']]}"
                     f"{_effect(table, ds, 'encoder', 'zero_warmup')}.{note}")
    n = len(dss)

    def half(key: str, what: str) -> str:
        yes, worse = _count(per, key, "better"), _count(per, key, "worse")
        neg, und = _count(per, key, "negligible"), _count(per, key, "inconclusive")
        parts = [f"better on {len(yes)} of {n}" + (f" ({', '.join(yes)})" if yes else "")]
        parts += [f"{w} on {len(x)} ({', '.join(x)})" for w, x in (("worse", worse), ("negligible", neg),
                                                                   ("undecided", und)) if x]
        return f"the encoder vs {what}: " + "; ".join(parts)

    yes, no = _count(per, "answer", "yes"), _count(per, "answer", "no")
    und = _count(per, "answer", "undecided")
    groups = [(w, x) for w, x in (("yes", yes), ("no", no), ("undecided", und)) if x]
    overall = (f"{groups[0][0]} on every dataset" if len(groups) == 1 else
               ", ".join(f"{w} on {len(x)}{f' of {n} datasets' if i == 0 else ''} ({', '.join(x)})"
                         for i, (w, x) in enumerate(groups)))
    lines += ["", f"**Overall: {overall}.** In detail, {half('vs_learned', 'learned (one fixed learned h0)')}; "
                  f"{half('vs_warmup', 'zero with warm-up')}. (Exploratory verdicts under protocol v2: the answer "
                  "is 'yes' on a dataset only when the encoder is significantly and non-negligibly better than "
                  "both, 'no' when it is worse than or within ±δ of either.)"]
    return lines


def verdict_records(table: pd.DataFrame) -> list[dict]:
    """analyze()'s ``verdicts``: one ``{claim, dataset, verdict}`` per comparison (claim "a vs b")."""
    return [{"claim": f"{r.a} vs {r.b}", "dataset": r.dataset, "verdict": r.verdict} for r in table.itertuples()]
