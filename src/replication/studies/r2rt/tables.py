"""r2rt's own regime (studies ``r2rt`` and ``r2rt_cpu``: every language-model dataset of their sweep):
perplexity (exp of the mean loss per token) side by side with r2rt's PTB table, learning curves of
train and validation perplexity per epoch like r2rt's figure, the loss at each position of the
50-token window, and a plain statement, generated from the numbers, of whether r2rt's effect sizes
are reproduced and at which scale.

Descriptive only: the verdicts stay protocol v2's (:mod:`.claims`). Intervals here are 95%
t-intervals over seeds (paired with zero's run of the same seed for % changes), uncorrected.
Epochs are 0-based, as in r2rt's table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.analysis.fmt import count
from replication.analysis.plotting import ordered_labels
from replication.analysis.stats import mean_ci
from replication.studies.claims.protocol import BLOG_PPL, BLOG_STRATEGIES

# r2rt's table (word-level PTB, one run per variant; docs/reference.md, "r2rt"): best val ppl, its epoch, train ppl
# then, epoch 0 train / val, epoch 19 train / val.
R2RT = pd.DataFrame(
    [("zero", 162.42, 13, 96.40, 674.6, 483.9, 73.2, 168.5),
     ("noisy", 154.25, 12, 91.41, 625.7, 407.9, 65.5, 165.6),
     ("learned", 147.41, 11, 84.75, 525.7, 325.4, 56.4, 164.9),
     ("learned_noisy", 145.26, 11, 84.31, 517.3, 331.3, 55.9, 164.2)],
    columns=["strategy", "best_val_ppl", "best_epoch", "train_ppl_at_best", "first_train_ppl", "first_val_ppl",
             "last_train_ppl", "last_val_ppl"]).set_index("strategy")
assert R2RT["best_val_ppl"].to_dict() == BLOG_PPL
# Buckets of the window (1-based positions) for the per-position table.
BUCKETS = {"t=1": (1, 1), "t=2–5": (2, 5), "t=6–10": (6, 10), "t=11–25": (11, 25), "t=26–50": (26, 50)}


def lm_datasets(runs: pd.DataFrame) -> list[str]:
    """The datasets r2rt's section covers: every language-model dataset of the sweep."""
    return sorted(runs.loc[runs["task"] == "lm", "dataset"].unique()) if len(runs) else []


def _first_last(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run (dataset, label, seed): train (in-training) and val perplexity at epoch 0 and at the
    run's last epoch."""
    cols = ["dataset", "label", "seed", "first_train_ppl", "first_val_ppl", "last_train_ppl", "last_val_ppl"]
    if curves.empty or not {"epoch", "train_loss", "val_loss"} <= set(curves.columns):
        return pd.DataFrame(columns=cols)
    c = curves.sort_values("epoch")
    g = c.groupby(["dataset", "label", "seed"])
    first, last = g.first(), g.last()
    out = pd.DataFrame({"first_train_ppl": np.exp(first["train_loss"]), "first_val_ppl": np.exp(first["val_loss"]),
                        "last_train_ppl": np.exp(last["train_loss"]), "last_val_ppl": np.exp(last["val_loss"])})
    return out.reset_index()[cols]


def perplexity_table(runs: pd.DataFrame, curves: pd.DataFrame | None = None,
                     datasets: list[str] | None = None) -> pd.DataFrame:
    """Per dataset and strategy (label), over the non-diverged seeds: best val perplexity (mean and
    95% CI), % change vs zero (of the means, and paired per seed with its CI), epoch of the best
    (mean, min, max), train perplexity there (in-training, i.e. with the strategy's noise, as r2rt
    measured it, and clean), test perplexity there, and mean train / val perplexity at the first and
    last epoch."""
    datasets = lm_datasets(runs) if datasets is None else datasets
    ok = runs[runs["dataset"].isin(datasets) & ~runs["diverged"].astype(bool) & runs["best_val_loss"].notna()].copy()
    fl = _first_last(curves if curves is not None else pd.DataFrame())
    if len(fl):
        ok = ok.merge(fl, on=["dataset", "label", "seed"], how="left")
    for col, src in (("val_ppl", "best_val_loss"), ("test_ppl", "test_at_best"), ("train_ppl", "train_at_best"),
                     ("train_clean_ppl", "train_clean_at_best")):
        ok[col] = np.exp(ok[src].astype(float))
    rows = []
    for ds, g in ok.groupby("dataset"):
        zero = g[g["label"] == "zero"].set_index("seed")["val_ppl"]
        zero_mean = float(zero.mean()) if len(zero) else np.nan
        for label in ordered_labels(g["label"]):
            h = g[g["label"] == label]
            m, lo, hi, n = mean_ci(h["val_ppl"])
            mine = h.set_index("seed")["val_ppl"]
            common = mine.index.intersection(zero.index)
            pm, plo, phi, pn = (mean_ci(100 * (mine[common] / zero[common] - 1)) if label != "zero"
                                else (0.0, np.nan, np.nan, len(h)))
            row = {"dataset": ds, "strategy": label, "seeds": n, "best_val_ppl": m, "best_val_ppl_ci_low": lo,
                   "best_val_ppl_ci_high": hi, "pct_vs_zero": 100 * (m / zero_mean - 1),
                   "pct_vs_zero_paired": pm, "pct_ci_low": plo, "pct_ci_high": phi, "paired_seeds": pn,
                   "best_epoch_mean": float(h["best_epoch"].mean()), "best_epoch_min": float(h["best_epoch"].min()),
                   "best_epoch_max": float(h["best_epoch"].max()), "epochs_run_mean": float(h["epochs_run"].mean()),
                   "train_ppl_at_best": float(h["train_ppl"].mean()),
                   "train_clean_ppl_at_best": float(h["train_clean_ppl"].mean()),
                   "test_ppl_at_best": float(h["test_ppl"].mean())}
            for c in ("first_train_ppl", "first_val_ppl", "last_train_ppl", "last_val_ppl"):
                row[c] = float(h[c].mean()) if c in h else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def r2rt_pct(strategy: str) -> float:
    return 100 * (BLOG_PPL[strategy] / BLOG_PPL["zero"] - 1) if strategy in BLOG_PPL else np.nan


def outcome(est: float, lo: float, hi: float, r: float) -> str:
    """Our paired % change [lo, hi] against r2rt's ``r`` (< 0): one of "larger", "reproduced",
    "smaller", "none", "inconclusive", "opposite", "too few seeds"."""
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(r)):
        return "too few seeds"
    if lo > 0:
        return "opposite"
    if hi < r:
        return "larger"
    if hi < 0:
        return "reproduced" if lo <= r else "smaller"
    return "inconclusive" if lo <= r else "none"


OUTCOME_TEXT = {
    "larger": "a larger gain than r2rt's (the interval lies below r2rt's value)",
    "reproduced": "r2rt's effect size reproduced (the interval is below 0 and contains r2rt's value)",
    "smaller": "a gain, but smaller than r2rt's (the interval lies between r2rt's value and 0)",
    "none": "not reproduced: no detectable change, and r2rt's value lies outside the interval",
    "inconclusive": "undecided: the interval contains both 0 and r2rt's value (too few seeds to tell)",
    "opposite": "not reproduced: perplexity is higher than zero's (the interval lies above 0)",
    "too few seeds": "no interval (fewer than 2 paired seeds)",
}


def reproduction(ppl: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and blog strategy: our paired % change in best val perplexity, its CI, r2rt's %
    change and the :func:`outcome`."""
    cols = ["dataset", "strategy", "pct_vs_zero_paired", "pct_ci_low", "pct_ci_high", "r2rt_pct", "outcome"]
    rows = [{"dataset": r.dataset, "strategy": r.strategy, "pct_vs_zero_paired": r.pct_vs_zero_paired,
             "pct_ci_low": r.pct_ci_low, "pct_ci_high": r.pct_ci_high, "r2rt_pct": r2rt_pct(r.strategy),
             "outcome": outcome(r.pct_vs_zero_paired, r.pct_ci_low, r.pct_ci_high, r2rt_pct(r.strategy))}
            for r in ppl.itertuples() if r.strategy in BLOG_STRATEGIES]
    return pd.DataFrame(rows, columns=cols)


def scale_text(runs: pd.DataFrame, ds: str, config: dict | None) -> str:
    """The scale a dataset was run at, in words, from the run records and the first run's config."""
    cfg = config or {}
    model = cfg.get("model") or {}
    data = cfg.get("data") or {}
    g = runs[runs["dataset"] == ds]
    tokens = g["train_steps"].dropna()
    return (f"{model.get('num_layers', '?')} × {model.get('hidden_size', '?')} LSTM, embedding "
            f"{model.get('embedding_dim', '?')}, vocabulary {data.get('vocab_size', '?')} + <unk>, "
            f"{int(tokens.iloc[0]):,} training tokens" if len(tokens) else "? training tokens") + \
        f", {count(g['seed'].nunique(), 'paired seed')}"


def statement(ppl: pd.DataFrame, rep: pd.DataFrame, runs: pd.DataFrame, config: dict | None) -> list[str]:
    """The plain statement per dataset: which of r2rt's effect sizes are reproduced, at which scale."""
    lines = []
    for ds in sorted(rep["dataset"].unique()) if len(rep) else []:
        r = rep[rep["dataset"] == ds]
        yes = r[r["outcome"].isin(["reproduced", "larger"])]["strategy"].tolist()
        open_ = r[r["outcome"].isin(["inconclusive", "too few seeds"])]["strategy"].tolist()
        head = ("r2rt's effect sizes are **reproduced** for every non-zero state" if len(yes) == len(r) else
                "whether r2rt's effect sizes are reproduced is **undecided** (the intervals are too wide)"
                if len(open_) == len(r) else
                "r2rt's effect sizes are **not reproduced** for any non-zero state" if not yes else
                f"r2rt's effect sizes are **reproduced only for {', '.join(yes)}**")
        if open_ and len(open_) < len(r):
            head += f" (undecided for {', '.join(open_)})"
        e = ppl[(ppl["dataset"] == ds) & (ppl["strategy"] == "zero")]["best_epoch_mean"]
        where = f"; zero's best epoch {e.iloc[0]:.1f} on average (r2rt: 13)" if len(e) else ""
        parts = [f"{x.strategy} {x.pct_vs_zero_paired:+.2f}% [{x.pct_ci_low:+.2f}, {x.pct_ci_high:+.2f}] vs r2rt "
                 f"{x.r2rt_pct:+.2f}%: {x.outcome}" for x in r.itertuples()]
        lines.append(f"- **{ds}** ({scale_text(runs, ds, config)}{where}): {head} — best validation "
                     f"perplexity vs zero, paired, 95% CI: {'; '.join(parts)}.")
    return lines


def position_table(profiles: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Per dataset, strategy and bucket of window positions (1-based): mean val loss at the best
    epoch (nats), its paired difference to zero (same seed), and, for zero, the excess over the
    window's tail (positions 26–50)."""
    cols = ["dataset", "strategy", "bucket", "loss", "diff_vs_zero", "diff_ci_low", "diff_ci_high", "excess_over_tail"]
    p = profiles[profiles["dataset"].isin(datasets)] if len(profiles) else profiles
    if p.empty:
        return pd.DataFrame(columns=cols)
    p = p.assign(t=p["position"].astype(int) + 1)
    rows = []
    for ds, g in p.groupby("dataset"):
        per = {b: g[g["t"].between(a, z)].groupby(["label", "seed"])["loss"].mean() for b, (a, z) in BUCKETS.items()}
        tail = per["t=26–50"]
        for label in ordered_labels(g["label"]):
            for b, s in per.items():
                mine = s.xs(label, level="label") if label in s.index.get_level_values(0) else pd.Series(dtype=float)
                if mine.empty:
                    continue
                zero = s.xs("zero", level="label") if "zero" in s.index.get_level_values(0) else pd.Series(dtype=float)
                d = (mine - zero).dropna() if label != "zero" else pd.Series(dtype=float)
                dm, dlo, dhi, _ = mean_ci(d)
                t = tail.xs(label, level="label") if label in tail.index.get_level_values(0) else pd.Series(dtype=float)
                rows.append({"dataset": ds, "strategy": label, "bucket": b, "loss": float(mine.mean()),
                             "diff_vs_zero": dm, "diff_ci_low": dlo, "diff_ci_high": dhi,
                             "excess_over_tail": float((mine - t).dropna().mean()) if len(t) else np.nan})
    return pd.DataFrame(rows, columns=cols)
