"""Protocol v3's endpoints in each task's own metric: the primary column and its δ (:func:`metric`), the
paired difference converted for display (:func:`display`), the naive forecasting baselines and the
model's skill over them (:func:`naive_baselines`, :func:`skill`), and the pairing-robust endpoint
(:func:`robust_runs`): every strategy of a seed scored at an epoch that no non-zero strategy chose."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .protocol3 import AR_LAGS, DELTA, LOGLOSS_DELTA_PCT, TASKS, WEAK_SKILL_PCT


def _task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid choices: {', '.join(TASKS)}")
    return task


# task -> (runs.csv column, kind): "absolute" = raw difference vs absolute δ, "relative" = % of the
# reference strategy's mean vs a δ in %, "error" = error-rate points from an accuracy column.
PRIMARY = {"lm": ("test_at_best", "absolute"), "classify": ("test_acc_at_best", "error"),
           "forecast": ("test_at_best", "relative")}
SECONDARY = {"classify": ("test_at_best", "relative", LOGLOSS_DELTA_PCT)}  # log-loss, decides nothing
EARLY = {"lm": ("test_early_at_best", "absolute"), "forecast": ("test_early_at_best", "relative")}


def metric(task: str, endpoint: str = "primary") -> tuple[str, str, float]:
    """``(column, kind, delta)`` of a task's endpoint (primary | secondary | early): δ in the unit the
    kind produces (nats/token, error-rate points or % of the reference mean)."""
    _task(task)
    if endpoint == "primary":
        col, kind = PRIMARY[task]
        return col, kind, DELTA[task]
    if endpoint == "secondary" and task in SECONDARY:
        return SECONDARY[task]
    if endpoint == "early" and task in EARLY:
        col, kind = EARLY[task]
        return col, kind, DELTA[task]
    valid = ["primary"] + (["secondary"] if task in SECONDARY else []) + (["early"] if task in EARLY else [])
    raise ValueError(f"no endpoint {endpoint!r} for task {task!r}; valid choices: {', '.join(valid)}")


def values(column: pd.Series, kind: str) -> pd.Series:
    """Per-run values in the unit the comparison is made in: error-rate % for "error" (100·(1 − acc)),
    the column itself otherwise (a "relative" kind is divided by its reference mean later)."""
    return 100.0 * (1.0 - column) if kind == "error" else column


def display(task: str, x):
    """A paired difference in the comparison unit → the task's reading: % perplexity 100·(exp(x) − 1)
    for lm (x in nats/token), unchanged otherwise (error points, % of zero's MSE). Monotone, so an
    interval's ends convert to the converted interval's ends."""
    x = np.asarray(x, dtype=float)
    return 100.0 * np.expm1(x) if _task(task) == "lm" else x


# --- naive forecasting baselines -------------------------------------------------------------------

def _seqs(seqs) -> list[np.ndarray]:
    out = [np.asarray(s, dtype=float) for s in seqs]
    return [s[:, None] if s.ndim == 1 else s for s in out]


def naive_baselines(train, test, lags: int = AR_LAGS) -> dict:
    """Test MSE of three naive next-step forecasters, scored on exactly the model's targets (every
    step of every test sequence but its first, all channels).

    ``train``, ``test``: sequences of shape ``(L_i, C)`` or ``(L_i,)`` (normalised like the model's).
    *mean*: the train mean of each channel. *last*: the previous value. *ar*: per channel, statsmodels
    ``AutoReg(lags)`` with a constant fitted on the train split's sequences concatenated (which adds
    one spurious transition per sequence boundary: exact for tree rings, whose pieces are contiguous,
    and a slightly weaker baseline for many short sequences); lags before a sequence's start are the
    train mean, as a zero initial state knows nothing of the past. Returns mse_mean, mse_last,
    mse_ar and ``targets`` (steps scored × channels)."""
    from statsmodels.tsa.ar_model import AutoReg

    train, test = _seqs(train), _seqs(test)
    full = np.concatenate(train)
    mu = full.mean(axis=0)
    err = {"mean": 0.0, "last": 0.0, "ar": 0.0}
    count = 0
    params = [AutoReg(full[:, c], lags=lags, trend="c").fit().params for c in range(full.shape[1])]
    for s in test:
        if len(s) < 2:
            continue
        y = s[1:]
        err["mean"] += float(((y - mu) ** 2).sum())
        err["last"] += float(((y - s[:-1]) ** 2).sum())
        padded = np.vstack([np.tile(mu, (lags, 1)), s])  # row lags + t is s[t]
        for c, p in enumerate(params):
            # prediction of s[t] (t ≥ 1) from s[t-1], …, s[t-lags]: p = [const, φ1, …, φp]
            lagmat = np.stack([padded[lags + np.arange(1, len(s)) - j, c] for j in range(1, lags + 1)], axis=1)
            err["ar"] += float(((y[:, c] - (p[0] + lagmat @ p[1:])) ** 2).sum())
        count += y.size
    if not count:
        return {"mse_mean": np.nan, "mse_last": np.nan, "mse_ar": np.nan, "targets": 0}
    return {**{f"mse_{k}": v / count for k, v in err.items()}, "targets": count}


def skill(model_mse: float, baselines: dict) -> dict:
    """The model's skill, 100·(1 − MSE_model / MSE_baseline) %, over each baseline of
    :func:`naive_baselines` and over the best of them; ``weak`` when the latter is below
    :data:`.protocol3.WEAK_SKILL_PCT`."""
    mses = {k[4:]: v for k, v in baselines.items() if k.startswith("mse_") and np.isfinite(v)}
    out = {f"skill_{k}_pct": 100.0 * (1.0 - model_mse / v) for k, v in mses.items()}
    if not mses:
        return {**out, "best_baseline": None, "skill_best_pct": np.nan, "weak": True}
    best = min(mses, key=mses.get)
    s = out[f"skill_{best}_pct"]
    return {**out, "best_baseline": best, "skill_best_pct": s, "weak": bool(not s >= WEAK_SKILL_PCT)}


# --- pairing-robust endpoint -----------------------------------------------------------------------

def best_epochs(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run (dataset, label, seed): the epoch of its lowest validation loss (the first, on ties)."""
    c = curves.dropna(subset=["val_loss"])
    idx = c.groupby(["dataset", "label", "seed"], sort=True)["val_loss"].idxmin()
    return c.loc[idx, ["dataset", "label", "seed", "epoch"]].rename(columns={"epoch": "best_epoch"}).reset_index(drop=True)


def zero_epochs(curves: pd.DataFrame, reference: str = "zero") -> pd.DataFrame:
    """Per dataset, from the ``reference`` strategy's runs only: ``epoch`` = the lower median of their
    best epochs (an epoch one of them chose), and the window ``lo``..``hi`` = their lower and upper
    quartiles (rounded outwards to epochs they chose). Datasets without a reference run are absent."""
    b = best_epochs(curves)
    b = b[b["label"] == reference]
    rows = [{"dataset": ds, "epoch": int(np.percentile(g["best_epoch"], 50, method="lower")),
             "lo": int(np.percentile(g["best_epoch"], 25, method="lower")),
             "hi": int(np.percentile(g["best_epoch"], 75, method="higher"))} for ds, g in b.groupby("dataset")]
    return pd.DataFrame(rows, columns=["dataset", "epoch", "lo", "hi"])


CURVE_COLUMNS = {"test_at_best": "test_loss", "test_acc_at_best": "test_acc", "test_early_at_best": "test_early"}


def robust_runs(curves: pd.DataFrame, runs: pd.DataFrame, rule: str = "zero_median") -> pd.DataFrame:
    """A runs-like table (dataset, task, label, seed, diverged, epoch_used and the endpoint columns of
    :data:`CURVE_COLUMNS`) scored at one epoch per dataset that never depends on a non-zero strategy.

    ``rule``: "zero_median" = each run's test scores at zero's median best epoch (:func:`zero_epochs`);
    "window" = their mean over zero's interquartile window of best epochs. A run that stopped before
    the epoch (or before the window's end), or whose test score there was not recorded, gets NaN, so
    its seed leaves the comparisons that need it: a mean over part of a window would not be paired."""
    rules = ("zero_median", "window")
    if rule not in rules:
        raise ValueError(f"unknown rule {rule!r}; valid choices: {', '.join(rules)}")
    if not {"epoch", "val_loss"} <= set(curves.columns) or runs.empty:
        return pd.DataFrame(columns=["dataset", "label", "seed", "task", "diverged", "epoch_used", *CURVE_COLUMNS])
    ep = zero_epochs(curves).set_index("dataset")
    keys = ["dataset", "label", "seed"]
    base = runs[[*keys, "task", "diverged"]].drop_duplicates(keys)
    rows = []
    for (ds, label, seed), g in curves.groupby(keys, sort=True):
        row = {"dataset": ds, "label": label, "seed": seed}
        if ds not in ep.index:
            continue
        e = ep.loc[ds]
        lo, hi = (e["epoch"], e["epoch"]) if rule == "zero_median" else (e["lo"], e["hi"])
        w = g[(g["epoch"] >= lo) & (g["epoch"] <= hi)]
        row["epoch_used"] = float(e["epoch"]) if rule == "zero_median" else float("nan")
        for out, col in CURVE_COLUMNS.items():
            v = w[col].to_numpy(dtype=float) if col in w else np.array([])
            row[out] = float(v.mean()) if len(v) == hi - lo + 1 and np.isfinite(v).all() else np.nan
        rows.append(row)
    return base.merge(pd.DataFrame(rows), on=keys, how="inner")
