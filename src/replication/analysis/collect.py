"""Gather a sweep into tidy tables. A run is any directory below the sweep holding a ``summary.json``
(at any depth: Hydra users choose their own ``hydra.sweep.subdir``), next to ``metrics.jsonl`` and
``config.yaml``. Records written before protocol v2 lack some keys; those columns are NaN.

``runs`` (one row per run, :data:`RUN_COLUMNS`): dataset, regime, task, strategy, label, seed, status,
diverged, epochs_run, epochs_max, best_epoch (0-based), peaked_before_last (best_epoch < epochs_run − 1),
best_val_loss, test_at_best, train_at_best (in-training: noise included), train_clean_at_best (noise
off), gap_at_best (val − clean train), val/test_early_at_best (mean loss over the first early_k steps
after each sequence start), final_train_loss(_clean), auc_train_clean (C1-faster's endpoint),
auc_train_in_training (secondary), auc_epochs (the common horizon E of the two areas),
epochs_to_zero_final, accuracies (classify), wall_time, train_sequences, train_steps, noise_std (σ of
the noisy strategies), state_rms_h/_c (RMS of the state over the validation data, final model), run_dir.
``curves``: one row per run and epoch: the key columns + every key of ``metrics.jsonl``.
``profiles``: one row per run and step index t at the best epoch: ``loss`` (mean val loss at step t),
``count`` (val steps behind it), ``test_loss`` and ``test_count`` (the same on test; NaN in records
older than protocol v3). ``runs`` gains ``val_starts``/``test_starts``: the count at t = 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..records import Summary, check_summary

KEY = ["dataset", "strategy", "label", "seed"]
RUN_COLUMNS = [
    "dataset", "regime", "task", "strategy", "label", "seed", "status", "diverged", "epochs_run", "epochs_max",
    "best_epoch", "peaked_before_last", "best_val_loss", "test_at_best", "train_at_best", "train_clean_at_best",
    "gap_at_best", "val_early_at_best", "test_early_at_best", "early_k", "final_train_loss",
    "final_train_loss_clean", "auc_train_clean", "auc_train_in_training", "auc_epochs", "epochs_to_zero_final",
    "val_acc_at_best", "test_acc_at_best", "wall_time", "train_sequences", "train_steps", "noise_std",
    "state_rms_h", "state_rms_c", "val_starts", "test_starts", "run_dir",
]
PROFILE_COLUMNS = KEY + ["position", "loss", "count", "test_loss", "test_count"]
# summary.json keys (replication.records.Summary) copied as they are (absent -> NaN)
_COPIED = ["epochs_max", "best_epoch", "best_val_loss", "test_at_best", "train_at_best", "train_clean_at_best",
           "val_early_at_best", "test_early_at_best", "early_k", "final_train_loss", "final_train_loss_clean",
           "val_acc_at_best", "test_acc_at_best", "wall_time", "noise_std"]


def skip(path: Path, reason: str, skipped: list | None = None) -> None:
    """Say in one line that ``path`` is left out and why (stderr), and remember it for the report."""
    print(f"skipping {path}: {reason}", file=sys.stderr)
    if skipped is not None:
        skipped.append((str(path), reason))


def run_dirs(sweep_dir: str | Path) -> list[Path]:
    """Every run directory below ``sweep_dir`` (holding a ``summary.json``), in path order."""
    return sorted(p.parent for p in Path(sweep_dir).rglob("summary.json"))


def _num(v) -> float:
    """A number from a JSON value; None, strings and the like become NaN."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def read_summary(run_dir: Path) -> Summary:
    """``summary.json`` as a dict of the declared :class:`~replication.records.Summary` shape (older
    records may lack keys); raises ``ValueError`` naming what is wrong with it."""
    try:
        s = json.loads((run_dir / "summary.json").read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable ({e.__class__.__name__})") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at line {e.lineno})") from e
    if not isinstance(s, dict):
        raise ValueError("not a JSON object")
    check_summary(s)
    return s


def read_metrics(run_dir: Path) -> list[dict]:
    """The per-epoch records of ``metrics.jsonl`` ([] when absent); raises ``ValueError`` on a bad line."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable ({e.__class__.__name__})") from e
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {i} is not valid JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise ValueError(f"line {i} is not a JSON object")
        rows.append(row)
    return rows


def auc(losses, horizon: int | None = None) -> float:
    """Area under a per-epoch loss curve: trapezoid over its first ``horizon`` epochs (all by default),
    divided by the number of intervals. Lower means faster training; equal to the loss of a flat curve.
    NaN when the curve is empty, shorter than the horizon, or has a missing value within it."""
    y = np.asarray([_num(v) for v in losses], dtype=float)
    if horizon is not None:
        if len(y) < horizon:
            return np.nan
        y = y[:horizon]
    if len(y) == 0 or not np.isfinite(y).all():
        return np.nan
    return float(y[0]) if len(y) == 1 else float(np.trapezoid(y) / (len(y) - 1))


def collect(sweep_dir: str | Path, skipped: list | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(runs, curves, profiles)`` for every readable run below ``sweep_dir``.

    An unreadable or foreign ``summary.json`` skips its run; an unreadable ``metrics.jsonl`` keeps the
    run (the summary is authoritative) without a curve; a second run with the same dataset, label and
    seed is skipped, not averaged. Each prints one ``skipping <path>: <reason>`` line on stderr and is
    appended to ``skipped`` as ``(path, reason)``."""
    rows, curve_rows, prof_rows, seen = [], [], [], {}
    for d in run_dirs(sweep_dir):
        try:
            s = read_summary(d)
        except ValueError as e:
            skip(d / "summary.json", str(e), skipped)
            continue
        key = {"dataset": str(s["data"]), "strategy": str(s.get("strategy", s["label"])), "label": str(s["label"]),
               "seed": s["seed"]}
        ident = (key["dataset"], key["label"], key["seed"])
        if ident in seen:
            skip(d, f"duplicate of {seen[ident]} (same dataset, label and seed)", skipped)
            continue
        seen[ident] = d
        try:
            metrics = read_metrics(d)
        except ValueError as e:
            skip(d / "metrics.jsonl", str(e), skipped)
            metrics = []
        sizes = s.get("sizes") if isinstance(s.get("sizes"), dict) else {}
        train = sizes.get("train") if isinstance(sizes.get("train"), dict) else {}
        rms = s.get("state_rms") if isinstance(s.get("state_rms"), dict) else {}
        row = {**key, "regime": s.get("regime"), "task": s.get("task"), "status": s.get("status"),
               "diverged": bool(s.get("diverged", False)), "epochs_run": _num(s.get("epochs_run", len(metrics))),
               **{k: _num(s.get(k)) for k in _COPIED},
               "train_sequences": _num(train.get("sequences")), "train_steps": _num(train.get("steps")),
               "state_rms_h": _num(rms.get("h")), "state_rms_c": _num(rms.get("c")),
               "run_dir": str(d), "_clean": [m.get("train_loss_clean") for m in metrics],
               "_in_training": [m.get("train_loss") for m in metrics]}
        curve_rows += [{**key, **m} for m in metrics]
        positions = _positions(s)
        row.update(val_starts=positions[0]["count"] if positions else np.nan,
                   test_starts=positions[0]["test_count"] if positions else np.nan)
        rows.append(row)
        prof_rows += [{**key, **p} for p in positions]
    if not rows:
        return pd.DataFrame(columns=RUN_COLUMNS), pd.DataFrame(columns=KEY + ["epoch"]), \
            pd.DataFrame(columns=PROFILE_COLUMNS)
    runs = _derived(pd.DataFrame(rows))
    runs = runs[RUN_COLUMNS].sort_values(["dataset", "label", "seed"]).reset_index(drop=True)
    curves = pd.DataFrame(curve_rows) if curve_rows else pd.DataFrame(columns=KEY + ["epoch"])
    profiles = pd.DataFrame(prof_rows, columns=PROFILE_COLUMNS)
    return runs, curves, profiles


def _positions(s: dict) -> list[dict]:
    """The best epoch's per-position rows of one summary (positions that no val sequence reaches are
    dropped, as before v3)."""
    def listed(v) -> list:
        return v if isinstance(v, list) else []

    val, test = listed(s.get("position_profile")), listed(s.get("test_position_profile"))
    counts = s.get("position_counts") if isinstance(s.get("position_counts"), dict) else {}
    vc, tc = listed(counts.get("val")), listed(counts.get("test"))

    def at(xs: list, t: int) -> float:
        return _num(xs[t]) if t < len(xs) else np.nan

    return [{"position": t, "loss": _num(v), "count": at(vc, t), "test_loss": at(test, t), "test_count": at(tc, t)}
            for t, v in enumerate(val) if v is not None]


def _derived(runs: pd.DataFrame) -> pd.DataFrame:
    """Columns computed from the summary and the curves (gap, peak, areas, epochs to zero's final)."""
    runs["diverged"] = runs["diverged"].astype(bool)
    # val − clean train; the summary's own gap_at_best used the in-training loss before v2.
    runs["gap_at_best"] = runs["best_val_loss"] - runs["train_clean_at_best"]
    runs["peaked_before_last"] = np.where(runs["best_epoch"].notna() & runs["epochs_run"].notna(),
                                          runs["best_epoch"] < runs["epochs_run"] - 1, np.nan)
    # Early stopping makes runs differ in length; integrate every run of a dataset over the epochs
    # all of its finished runs have, so a run that stopped early is not charged for missing epochs.
    ok = ~runs["diverged"]
    lengths = runs["_in_training"].map(len).where(ok)
    horizon = lengths.groupby(runs["dataset"]).transform("min")
    runs["auc_epochs"] = horizon
    h = [int(x) if np.isfinite(x) and x > 0 else None for x in horizon]
    runs["auc_train_clean"] = [auc(c, e) if e else np.nan for c, e in zip(runs["_clean"], h)]
    runs["auc_train_in_training"] = [auc(c, e) if e else np.nan for c, e in zip(runs["_in_training"], h)]
    runs["epochs_to_zero_final"] = _epochs_to_zero_final(runs)
    return runs.drop(columns=["_clean", "_in_training"])


def _epochs_to_zero_final(runs: pd.DataFrame) -> pd.Series:
    """Epochs (1-based) a run needs to reach the final clean training loss of the ``zero`` run with the
    same dataset and seed; NaN when it never does, or there is no such run or no clean curve."""
    recs = runs.to_dict("records")
    zero = {(r["dataset"], r["seed"]): _num(r["_clean"][-1]) if r["_clean"] else np.nan
            for r in recs if r["label"] == "zero"}
    out = []
    for r in recs:
        target = zero.get((r["dataset"], r["seed"]), np.nan)
        curve = [_num(v) for v in r["_clean"]]
        hit = next((i + 1 for i, v in enumerate(curve) if v <= target), None) if np.isfinite(target) else None
        out.append(float(hit) if hit is not None else np.nan)
    return pd.Series(out, index=runs.index, dtype=float)


def load_tables(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read back ``runs``, ``curves``, ``profiles`` written by a study's analysis (the notebooks)."""
    t = load_results(results_dir, ("runs", "curves", "profiles"))
    return t["runs"], t["curves"], t["profiles"]


def load_results(results_dir: str | Path, names=("runs", "curves", "profiles", "comparisons", "verdicts",
                                                 "pooled", "regime_power", "sensitivity", "blog_side_by_side")):
    """``{name: DataFrame}`` of the CSVs :func:`replication.analysis.analyze` wrote (empty when absent)."""
    d = Path(results_dir)

    def read(n: str) -> pd.DataFrame:
        p = d / f"{n}.csv"
        if not p.exists() or p.stat().st_size <= 1:
            return pd.DataFrame()
        try:
            return pd.read_csv(p)
        except pd.errors.EmptyDataError:  # a header-less empty table
            return pd.DataFrame()

    return {n: read(n) for n in names}
