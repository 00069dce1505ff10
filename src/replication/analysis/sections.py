"""Report sections every study prints the same way: the setup (command, commit, model, trainer, and
a table of the datasets), the files the collection skipped and the runs a half-finished sweep lacks."""

from __future__ import annotations

import pandas as pd

from .fmt import table_md
from .pairing import missing_runs, seed_ranges

__all__ = ["missing_section", "setup_section", "skipped_section"]


def setup_section(runs: pd.DataFrame, meta: dict) -> str:
    """``## Setup``: what ran (``meta``: study, command, commit, sweep_wall, config) and per dataset its
    task, regime, size, strategies, seeds, runs and diverged runs."""
    ds = (runs.groupby("dataset")
          .agg(task=("task", "first"), regime=("regime", "first"), train_sequences=("train_sequences", "first"),
               train_steps=("train_steps", "first"), strategies=("label", lambda s: ", ".join(sorted(set(s)))),
               seeds=("seed", "nunique"), runs=("seed", "size"), diverged=("diverged", "sum"),
               epochs_max=("epochs_max", "max"), early_k=("early_k", "first"))
          .reset_index())
    cfg = meta.get("config") or {}
    get = lambda k: cfg.get(k) if isinstance(cfg.get(k), dict) else {}  # noqa: E731
    model, trainer, state = get("model"), get("trainer"), get("init_state")
    return "\n".join([
        "## Setup", "",
        f"- Study `{meta.get('study')}`; command: `{meta.get('command')}`",
        f"- Code: git commit `{meta.get('commit')}`; {len(runs)} runs; wall time of the invocation that wrote this "
        f"report {meta.get('sweep_wall', '–')} (finished runs are skipped, so a rerun is short); training time summed "
        f"over runs {runs['wall_time'].sum() / 60:.1f} min",
        f"- Model: {str(model.get('cell', '?')).upper()} {model.get('num_layers', '?')} × {model.get('hidden_size', '?')} "
        f"units (embedding {model.get('embedding_dim', '?')} for lm); trainer: {trainer.get('optimizer')} lr "
        f"{trainer.get('lr')}, {trainer.get('epochs')} epochs max, early stopping {trainer.get('early_stopping')}, "
        f"batch {trainer.get('batch_size')}, TBPTT {trainer.get('tbptt')}, grad clip {trainer.get('grad_clip')}; "
        f"noise σ = {state.get('noise_std')} (noisy, learned_noisy, adaptive's start)",
        "- Seeds are paired: for one seed every strategy starts from the same weights and sees the same data order.",
        "- Loss units: lm nats/token, forecast MSE in train-normalised units, classify nats/sequence.", "",
        table_md(ds)])


def skipped_section(skipped: list) -> str:
    """``## Files skipped`` with one line per ``(path, reason)``; empty when nothing was skipped."""
    if not skipped:
        return ""
    return "\n".join(["## Files skipped", "", *[f"- skipping `{p}`: {r}" for p, r in skipped]])


def missing_section(runs: pd.DataFrame) -> str:
    """``## Runs missing from the comparisons``: per dataset, the labels without a run for some of
    its seeds (labels lacking the same seeds on one line), which every comparison of theirs leaves
    out; empty when every label of every dataset has every seed."""
    m = missing_runs(runs)
    if m.empty:
        return ""
    lines = ["## Runs missing from the comparisons", "",
             "Comparisons pair runs by seed. These seeds of a dataset have no run of the label (not yet run, or its "
             "summary unreadable), so every comparison with that label on that dataset leaves them out:", ""]
    m["seeds"] = m["missing"].map(seed_ranges)
    for (ds, seeds), g in m.groupby(["dataset", "seeds"], sort=False):
        labels, n = sorted(g["label"]), len(g["missing"].iloc[0])
        verb, word = "lacks" if len(labels) == 1 else "lack", "seeds" if n > 1 else "seed"
        lines.append(f"- {ds}: {', '.join(labels)} {verb} {word} {seeds} ({g['have'].iloc[0]} of {g['of'].iloc[0]} seeds)")
    return "\n".join(lines)
