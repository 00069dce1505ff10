"""Protocol v3 on the claims study: the graded comparisons in each task's own metric, the claim grades
with the curve-based regime test, the pairing-robust endpoint (every strategy of a seed scored at
zero's median best epoch) as a sensitivity column, pooling per task type (HKSJ, prediction
interval), study-wide Holm/BH, power, and the naive-baseline skill of the forecasting datasets. The
statistics are the shared :mod:`replication.analysis` modules'; this module only applies them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from replication.analysis import endpoints as E
from replication.analysis import meta, multiplicity, positions, power3, regime_test
from replication.analysis.fmt import num, table_md
from replication.analysis.protocol3 import MIN_STARTS, protocol3_text
from replication.data.base import SequenceDataset

from . import comparisons3 as C3

BASELINE_COLUMNS = ["dataset", "model_mse", "mse_mean", "mse_last", "mse_ar", "best_baseline", "skill_best_pct",
                    "skill_mean_pct", "weak"]


def _sequences(split) -> list[np.ndarray]:
    import torch

    return [s.numpy() for s in torch.split(split.values, split.lengths.tolist())]


def baselines(runs: pd.DataFrame) -> pd.DataFrame:
    """Per forecasting dataset: the zero LSTM's mean test MSE, the naive forecasters' (train mean, last
    value, AR) on the same targets, and the skill over the best of them. The data are rebuilt from a
    run's own ``config.yaml``; a dataset whose runs left none (re-analysed tables) gets no row."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    rows = []
    for ds, g in runs[runs["task"] == "forecast"].groupby("dataset"):
        zero = g[(g["label"] == "zero") & ~g["diverged"].astype(bool)]
        cfgs = [Path(d) / "config.yaml" for d in g["run_dir"] if (Path(d) / "config.yaml").exists()]
        if zero.empty or not cfgs:
            continue
        try:
            data = instantiate(OmegaConf.load(cfgs[0]).data)
        except Exception:  # noqa: BLE001 - a config that cannot rebuild its data (e.g. hand-written): no row
            continue
        if not isinstance(data, SequenceDataset):  # a data section without a loader (_target_)
            continue
        b = E.naive_baselines(_sequences(data.split("train")), _sequences(data.split("test")))
        model = float(zero["test_at_best"].mean())
        s = E.skill(model, b)
        rows.append({"dataset": ds, "model_mse": model, **{k: b[k] for k in ("mse_mean", "mse_last", "mse_ar")},
                     "best_baseline": s["best_baseline"], "skill_best_pct": s["skill_best_pct"],
                     "skill_mean_pct": s.get("skill_mean_pct", np.nan), "weak": s["weak"]})
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def with_early_window(runs: pd.DataFrame, profiles: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs + test_early_window, window table)``: each dataset's early window follows the measured
    persistence of the start effect on validation (:func:`.positions.windows`), and each run's test
    loss over it is the early endpoint. Records without a test profile leave the column NaN, and
    the early comparisons then fall back to the fixed first ``early_k`` steps (the report says which)."""
    if profiles is None or profiles.empty:
        return runs.assign(test_early_window=np.nan), pd.DataFrame(columns=positions.WINDOW_COLUMNS)
    win = positions.windows(profiles, runs)
    w = positions.windowed(profiles, win).rename(columns={"early_window": "test_early_window"})
    return runs.merge(w, on=["dataset", "label", "seed"], how="left"), win


def tables(runs: pd.DataFrame, curves: pd.DataFrame, profiles: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every v3 table, named as its CSV (``v3_*``)."""
    runs, win = with_early_window(runs, profiles)
    table = C3.comparisons(runs)
    secondary = C3.comparisons(runs, endpoint="secondary")
    reg = regime_test.classify(curves, runs)
    verdicts = C3.claims(table, reg)
    robust_runs = E.robust_runs(curves, runs)
    robust = C3.claims(C3.comparisons(robust_runs), reg) if len(robust_runs) else verdicts.iloc[0:0]
    rob = robust[["claim", "family", "grade"]].rename(columns={"grade": "grade_robust"})
    verdicts = verdicts.merge(rob, on=["claim", "family"], how="left")
    verdicts["n_robust"] = verdicts["grade_robust"].notna()
    return {"v3_comparisons": pd.concat([table, secondary], ignore_index=True), "v3_verdicts": verdicts,
            "v3_regime": reg, "v3_pooled": meta.pooled(table), "v3_power": power3.power_table(table),
            "v3_study_wide": multiplicity.changed(table), "v3_baselines": baselines(runs),
            "v3_early_window": win}


def _grid(v3: pd.DataFrame, v2: pd.DataFrame) -> pd.DataFrame:
    """Claim × dataset: ``v2 → v3`` (v3's ungated grade in brackets where the gate applies)."""
    v2 = v2[~v2["exploratory"].astype(bool)] if len(v2) else v2
    old = {(r.claim, r.dataset): r.verdict for r in v2.itertuples()} if len(v2) else {}
    rows = {}
    for r in v3.itertuples():
        if " [" in str(r.family):
            continue  # exploratory rows are listed in v3_verdicts.csv
        cell = f"{old.get((r.claim, r.dataset), '–')} → {r.grade}"
        if r.grade == "out of regime":
            cell += f" ({r.grade_ungated})"
        rows.setdefault(r.claim, {})[r.dataset] = cell
    return pd.DataFrame.from_dict(rows, orient="index").fillna("").rename_axis("claim").reset_index()


def section(t: dict[str, pd.DataFrame], v2: pd.DataFrame) -> str:
    """The report's protocol v3 section (method first, then the tables it decides with)."""
    v, reg, pw, base = t["v3_verdicts"], t["v3_regime"], t["v3_power"], t["v3_baselines"]
    pool, flips = t["v3_pooled"], t["v3_study_wide"]
    robust = v[v["grade_robust"].notna() & (v["grade_robust"] != v["grade"])] if len(v) else v
    n_rob = int(v["n_robust"].sum()) if len(v) else 0
    lines = ["## Protocol v3 (the rules every verdict below this line follows)", "", protocol3_text(), "",
             "### Grades: v2 → v3", "",
             "Each cell: v2's verdict → v3's grade. Grades: *better/worse, relevant* (the interval lies beyond δ), "
             "*uncertain size* (excludes 0, crosses δ), *small* (excludes 0, inside ±δ), *negligible* (contains 0, "
             "inside ±δ), *inconclusive*; for a claim, *as claimed* / *against the claim*. *out of regime* is the "
             "curve-based regime gate (the ungated grade in brackets).", "",
             table_md(_grid(v, v2)) if len(v) else "(no comparison)", "",
             "### Regime, from the curves", "",
             table_md(reg[["dataset", "runs", "median_val_slope_after_pct", "val_rising_share", "p_val_rise",
                           "median_train_slope_pct", "train_falling_share", "best_at_most_1", "classification"]])
             if len(reg) else "(no curves)", ""]
    if len(base):
        lines += ["### Forecasting: skill over naive baselines (test MSE)", "",
                  "A dataset where the LSTM barely beats a naive forecaster (skill below 5%) is a weak test of "
                  "any claim.", "", table_md(base), ""]
    lines += early_window_lines(t.get("v3_early_window"), t["v3_comparisons"])
    lines += ["### Power: minimum detectable effect, equivalence power, seeds needed", "",
              table_md(pw) if len(pw) else "(none)", "",
              "### Pooled per task type (HKSJ interval, prediction interval)", "",
              table_md(pool[["task", "claim", "a", "b", "unit", "k", "estimate", "ci_low", "ci_high", "pi_low",
                             "pi_high", "i2"]]) if len(pool) else "(none)", "",
              "### Study-wide Holm (sensitivity)", "",
              (f"{len(flips)} claim grade(s) change when Holm runs over every comparison of the study:\n\n"
               + table_md(flips)) if len(flips) else "No claim grade changes under a study-wide Holm correction.", "",
              "### Pairing-robust endpoint (sensitivity)", "",
              f"Every strategy of a seed scored at zero's median best epoch (chosen without looking at any other "
              f"strategy). {n_rob} of {len(v)} claim rows have it (it needs the test loss at that epoch in every "
              "run's curve)." + ((" It changes: " + "; ".join(f"{r.claim} on {r.family}: {r.grade} → {r.grade_robust}"
                                                             for r in robust.itertuples()) + ".") if len(robust)
                                 else " It changes no grade that it can compute.")]
    return "\n".join(lines)


def early_window_lines(win: pd.DataFrame | None, table: pd.DataFrame) -> list[str]:
    """The report's lines on the early window: per dataset, its length, the persistence it follows
    and the sequence starts behind it; which column H4-early used."""
    early = table[table["claim"] == "H4-early"] if len(table) else table
    used = sorted(set(early["column"])) if len(early) else []
    lines = ["### Early window: follows the measured persistence", ""]
    if win is None or win.empty:
        return lines + ["No test position profile in these records (older than v3): H4-early uses the fixed "
                        "first `early_k` steps.", ""]
    shown = win.assign(few_starts=win["few_starts"].map({True: f"yes (< {MIN_STARTS})", False: ""}))
    return lines + [
        "Per dataset: the number of leading positions at which the paired validation difference to zero "
        "excludes 0 (the longest-lasting of learned and noisy), the window = max(1, persistence) that the "
        "test early loss is averaged over, and the sequence starts behind each estimate; an estimate on "
        f"fewer than {MIN_STARTS} test starts is marked. H4-early used: "
        + (", ".join(f"`{c}`" for c in used) or "nothing") + ".", "", table_md(shown), ""]


def answer_lines(t: dict[str, pd.DataFrame]) -> list[str]:
    """The plain answer from v3's grades: per claim, the datasets by grade."""
    v = t["v3_verdicts"]
    v = v[~v["family"].astype(str).str.contains(r" \[", regex=True)]
    out = []
    for claim, g in v.groupby("claim", sort=False):
        parts = [f"{grade} on {', '.join(h['dataset'])}" for grade, h in g.groupby("grade", sort=False)]
        out.append(f"- **{claim}** (v3): " + "; ".join(parts) + ".")
    weak = t["v3_baselines"]
    if len(weak) and weak["weak"].any():
        out.append(f"- Weak tests (the LSTM beats a naive forecaster by less than 5%): "
                   f"{', '.join(weak.loc[weak['weak'], 'dataset'])} — read their grades with that in mind.")
    pw = t["v3_power"]
    if len(pw):
        under = pw[pw["mde_over_delta"] > 1]
        if len(under):
            out.append("- Underpowered for δ (minimum detectable effect above δ): " + ", ".join(
                f"{r.dataset} ({num(r.mde_over_delta)}× δ, {num(r.seeds_difference)} seeds needed)"
                for r in under.itertuples()) + ".")
    return out
