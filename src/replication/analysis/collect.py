"""Gather a sweep directory (``<sweep>/<data>/<label>/seed=<k>/``) into tidy tables.

``runs``: one row per run — dataset, regime, task, strategy, seed, best-val epoch, best val loss,
test loss at best val, train loss there, generalization gap, area under the training-loss curve,
epochs to reach the zero strategy's final training loss, diverged flag.
``curves``: one row per run and epoch (train/val/test loss, gap, accuracy, state norms).
``profiles``: one row per run and step index: mean val loss at step t at the best epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

RUN_COLUMNS = [
    "dataset", "regime", "task", "strategy", "label", "seed", "status", "diverged", "epochs_run",
    "best_epoch", "best_val_loss", "test_at_best", "train_at_best", "gap_at_best", "final_train_loss",
    "auc_train", "epochs_to_zero_final", "val_acc_at_best", "test_acc_at_best", "wall_time",
    "train_sequences", "train_steps",
]


def run_dirs(sweep_dir: str | Path) -> list[Path]:
    """Every finished run directory under ``sweep_dir`` (those with a ``summary.json``)."""
    return sorted(p.parent for p in Path(sweep_dir).glob("*/*/seed=*/summary.json"))


def _read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def auc(losses: list[float]) -> float:
    """Area under the training-loss curve per epoch (trapezoid over epochs 1..E, divided by E).

    Lower means faster training. Equal to the mean loss for a flat curve; NaN when empty.
    """
    if not losses:
        return float("nan")
    y = np.asarray(losses, dtype=float)
    if len(y) == 1:
        return float(y[0])
    return float(np.trapezoid(y) / (len(y) - 1))


def collect(sweep_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(runs, curves, profiles)`` for every finished run of the sweep."""
    rows, curve_rows, prof_rows = [], [], []
    for d in run_dirs(sweep_dir):
        s = json.loads((d / "summary.json").read_text())
        metrics = _read_metrics(d)
        key = {"dataset": s["data"], "strategy": s["strategy"], "label": s["label"], "seed": s["seed"]}
        train_curve = [m["train_loss"] for m in metrics]
        rows.append({
            **key, "regime": s["regime"], "task": s["task"], "status": s["status"],
            "diverged": bool(s["diverged"]), "epochs_run": s["epochs_run"],
            "best_epoch": s.get("best_epoch"), "best_val_loss": s.get("best_val_loss"),
            "test_at_best": s.get("test_at_best"), "train_at_best": s.get("train_at_best"),
            "gap_at_best": s.get("gap_at_best"), "final_train_loss": s.get("final_train_loss"),
            "auc_train": auc(train_curve), "val_acc_at_best": s.get("val_acc_at_best"),
            "test_acc_at_best": s.get("test_acc_at_best"), "wall_time": s.get("wall_time"),
            "train_sequences": s["sizes"]["train"]["sequences"], "train_steps": s["sizes"]["train"]["steps"],
            "_train_curve": train_curve,
        })
        for m in metrics:
            curve_rows.append({**key, **m})
        for t, v in enumerate(s.get("position_profile") or []):
            if v is not None:
                prof_rows.append({**key, "position": t, "loss": v})
    runs = pd.DataFrame(rows)
    if runs.empty:
        return pd.DataFrame(columns=RUN_COLUMNS), pd.DataFrame(), pd.DataFrame()
    runs["epochs_to_zero_final"] = _epochs_to_zero_final(runs)
    runs = runs.drop(columns="_train_curve")
    runs = runs[RUN_COLUMNS].sort_values(["dataset", "label", "seed"]).reset_index(drop=True)
    return runs, pd.DataFrame(curve_rows), pd.DataFrame(prof_rows)


def _epochs_to_zero_final(runs: pd.DataFrame) -> pd.Series:
    """Epochs (1-based) a run needs to reach the final training loss of the ``zero`` run with the
    same dataset and seed; NaN when it never does or there is no such zero run."""
    recs = runs.to_dict("records")
    zero_final = {(r["dataset"], r["seed"]): r["final_train_loss"] for r in recs if r["strategy"] == "zero"}
    out = []
    for r in recs:
        target = zero_final.get((r["dataset"], r["seed"]))
        hit = None
        if target is not None:
            hit = next((i + 1 for i, v in enumerate(r["_train_curve"]) if v <= target), None)
        out.append(float(hit) if hit is not None else np.nan)
    return pd.Series(out, index=runs.index)


def write_tables(sweep_dir: str | Path, out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Collect the sweep and write ``runs.csv``, ``curves.csv``, ``profiles.csv`` atomically."""
    from ..io import atomic_write_text

    runs, curves, profiles = collect(sweep_dir)
    out = Path(out_dir)
    for name, df in (("runs", runs), ("curves", curves), ("profiles", profiles)):
        atomic_write_text(out / f"{name}.csv", df.to_csv(index=False, float_format="%.6g"))
    return runs, curves, profiles


def load_tables(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read back the three CSVs written by :func:`write_tables` (what the notebooks use)."""
    d = Path(results_dir)
    read = lambda n: pd.read_csv(d / f"{n}.csv") if (d / f"{n}.csv").stat().st_size > 1 else pd.DataFrame()  # noqa: E731
    return read("runs"), read("curves"), read("profiles")
