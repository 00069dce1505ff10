"""Which runs may be compared, and which are missing from the comparisons.

Every study pairs the runs of one dataset by seed and compares strategies, so those runs must agree
on everything but the strategy: the same config apart from ``init_state`` (and ``seed``, the pairing
itself, and a study's own arm keys, e.g. the conditioned study's ``trainer.warmup``), and the same data.
:func:`incomparable` says in one line where a sweep breaks that.

What a run records about its data: ``summary.json`` keeps the run key (``config_hash``: the config and
the data's content hashed together) but not the data's fingerprint alone, so the data is compared
through what is recorded — the config's ``data`` group (name, path, sizes asked for) and the
summary's task, regime and sizes of every split. A file rewritten in place with the same sizes goes
unnoticed here.

Only the standard library and pandas: the analysis runs without torch (so :mod:`replication.run`'s
lists of non-semantic keys are mirrored here; a test keeps the two equal)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["config_setting", "incomparable", "missing_runs", "run_setting", "seed_ranges"]

# Mirrors of replication.run: keys that change where/how a run is logged, not its numbers, and
# options that at their off value leave a run's key as it was before they existed.
NON_SEMANTIC = ("logger", "paths", "sweep_name")
NON_SEMANTIC_TRAINER = ("threads", "progress", "checkpoint", "checkpoint_every_s", "eval_batch_size")
OFF_VALUES = {"trainer": {"min_epochs": 0, "warmup": 0, "score_from": 0},
              "init_state": {"encoder_steps": 5, "encoder_hidden": 64}, "data": {"max_classes": 10000, "bos": False}}
_OFF = {f"{g}.{k}": json.dumps(v) for g, offs in OFF_VALUES.items() for k, v in offs.items()}
ARM = ("init_state", "seed")  # what the compared runs differ in by design
SHOWN = 6  # differing keys named in the one line


def _flat(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = json.dumps(v, sort_keys=True, default=str)
    return out


def config_setting(cfg: dict, arm_keys=()) -> dict[str, str]:
    """The dotted keys of a resolved config that must agree between compared runs (values as JSON)."""
    c = json.loads(json.dumps(cfg, default=str))  # a deep copy
    for k in (*NON_SEMANTIC, "hydra"):
        c.pop(k, None)
    if isinstance(c.get("trainer"), dict):
        for k in NON_SEMANTIC_TRAINER:
            c["trainer"].pop(k, None)
    for group, offs in OFF_VALUES.items():
        if isinstance(c.get(group), dict):
            for k, off in offs.items():
                if c[group].get(k) == off:
                    c[group].pop(k)
    flat = _flat(c)
    drop = tuple(ARM) + tuple(arm_keys)
    return {k: v for k, v in flat.items() if not any(k == a or k.startswith(a + ".") for a in drop)}


def _read_yaml(path: Path) -> dict | None:
    import yaml

    try:
        cfg = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return cfg if isinstance(cfg, dict) else None


def run_setting(run_dir: str | Path, row: dict | None = None, arm_keys=()) -> tuple[dict | None, dict]:
    """``(config, data)`` of one run: :func:`config_setting` of its ``config.yaml`` (None when absent
    or unreadable), and what is recorded about its data — ``task``, ``regime`` and
    ``sizes.<split>.<sequences|steps>`` from ``summary.json``, else the train sizes of ``row`` (a
    ``runs`` row, e.g. read back from runs.csv where the run directory is gone)."""
    d = Path(run_dir)
    cfg = _read_yaml(d / "config.yaml")
    data: dict[str, str] = {}
    try:
        s = json.loads((d / "summary.json").read_text())
    except (OSError, ValueError):
        s = None
    if isinstance(s, dict):
        data = {k: str(s[k]) for k in ("task", "regime") if k in s}
        sizes = s.get("sizes") if isinstance(s.get("sizes"), dict) else {}
        data |= {f"sizes.{split}.{k}": str(v) for split, kv in sizes.items() if isinstance(kv, dict)
                 for k, v in kv.items()}
    elif row is not None:
        data = {f"sizes.train.{k}": f"{float(row[c]):g}" for k, c in (("sequences", "train_sequences"),
                                                                       ("steps", "train_steps"))
                if c in row and np.isfinite(float(row[c]))}
    return (None if cfg is None else config_setting(cfg, arm_keys)), data


def _differing(settings: list[dict]) -> dict[str, list[str]]:
    """``{key: its distinct values}`` for every key whose value is not the same in all ``settings``
    (a key one of them lacks counts as differing, at its off value if it has one)."""
    keys = sorted(set().union(*settings))
    out = {}
    for k in keys:
        vals = [s.get(k, _OFF.get(k, "(absent)")) for s in settings]
        if len(set(vals)) > 1:
            out[k] = sorted(set(vals))
    return out


def incomparable(runs: pd.DataFrame, root: str | Path = "", arm_keys=()) -> str | None:
    """One line naming, for the first dataset whose runs do not all share a config (apart from the
    strategy, the seed and ``arm_keys``) and data, the keys that differ, their values and a run of
    each kind; None when every dataset's runs may be compared. Runs without a readable
    ``config.yaml`` are compared on their data alone."""
    for ds, g in runs.groupby("dataset", sort=True):
        rows = g.to_dict("records")
        got = [run_setting(r["run_dir"], r, arm_keys) for r in rows]
        configs = [(c, r) for (c, _), r in zip(got, rows) if c is not None]
        diff = _differing([c for c, _ in configs]) if configs else {}
        diff |= _differing([dt for _, dt in got])
        if not diff:
            continue
        shown = "; ".join(f"{k}: {' vs '.join(v)}" for k, v in list(diff.items())[:SHOWN])
        more = f" (and {len(diff) - SHOWN} more)" if len(diff) > SHOWN else ""
        key = next(iter(diff))
        examples = {}
        for (c, dt), r in zip(got, rows):
            examples.setdefault({**(c or {}), **dt}.get(key, "(absent)"), _rel(r["run_dir"], root))
        return (f"the runs of dataset {ds} differ in more than the strategy, so they cannot be paired: {shown}{more} "
                f"(e.g. {' vs '.join(examples.values())}); analyse each config's runs apart (one sweep folder each)")
    return None


def _rel(run_dir: str, root: str | Path) -> str:
    try:
        return str(Path(run_dir).relative_to(root)) if root else str(run_dir)
    except ValueError:
        return str(run_dir)


def missing_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and label, the seeds of that dataset (the union over its labels) without a run of
    that label: every comparison with the label on the dataset leaves them out. Columns dataset,
    label, missing (sorted seeds), have, of; only labels missing something."""
    rows = []
    for ds, g in runs.groupby("dataset", sort=True):
        seeds = set(g["seed"].astype(int))
        for label, gl in g.groupby("label", sort=True):
            lack = sorted(seeds - set(gl["seed"].astype(int)))
            if lack:
                rows.append({"dataset": ds, "label": label, "missing": lack, "have": len(seeds) - len(lack),
                             "of": len(seeds)})
    return pd.DataFrame(rows, columns=["dataset", "label", "missing", "have", "of"])


def seed_ranges(seeds: list[int]) -> str:
    """``0, 3–5, 9`` from sorted seeds."""
    parts, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(f"{start}" if start == s else f"{start}–{s}")
            start = None
    return ", ".join(parts)
