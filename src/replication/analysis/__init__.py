"""Analysis of a sweep under protocol v2: tidy tables (:mod:`.collect`), statistics (:mod:`.stats`),
claim verdicts (:mod:`.claims`), per- and across-dataset summaries (:mod:`.summaries`), figures
(:mod:`.figures`) and the generated report (:mod:`.report`, :mod:`.answer`); the rules themselves are
:mod:`.protocol`. :func:`analyze` runs them all."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import import_module
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text
from replication.studies.claims.claims import comparisons, sensitivity, verdicts
from .collect import collect, load_results, load_tables, run_dirs, write_tables
from .plotting import all_figures
from replication.studies.r2rt.tables import applies as r2rt_datasets
from replication.studies.r2rt.report import section as r2rt_section
from replication.studies.claims.report import render
from replication.studies.claims.summaries import blog_side_by_side, pooled, power, regime

# profile -> (module, function) of the studies that write their own report; each takes
# (sweep_dir, out_dir, *, command, sweep_seconds) and returns analyze()'s dict.
STUDIES = {"noise": ("replication.studies.noise.report", "analyze_noise"), "conditioned": ("replication.studies.conditioned.tables", "analyze_conditioned")}

__all__ = ["analyze", "blog_side_by_side", "collect", "comparisons", "load_results", "load_tables",
           "notebook_dirs", "pooled", "power", "regime", "run_dirs", "sensitivity", "verdicts", "write_tables"]


def git_commit(cwd: Path | None = None) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True).stdout.strip()
        # The outputs themselves (results/, notebooks/) are tracked and rewritten by this very run:
        # only a change to anything else makes the code "dirty".
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(exclude,top)results", ":(exclude,top)notebooks"], cwd=cwd,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def notebook_dirs(default_results: str = "../results/default") -> tuple[Path, Path]:
    """``(results, figures)`` for a notebook: ``$INITSTATE_RESULTS`` (default: the committed default
    results) and where its figures go — ``$INITSTATE_NB_FIGS`` if set, the results' own ``figures/``
    only when ``INITSTATE_NB_REFRESH=1`` asks to refresh them, else ``_output/`` beside the notebook,
    so that running a notebook never rewrites committed files."""
    results = Path(os.environ.get("INITSTATE_RESULTS", default_results))
    if os.environ.get("INITSTATE_NB_FIGS"):
        return results, Path(os.environ["INITSTATE_NB_FIGS"])
    if os.environ.get("INITSTATE_NB_REFRESH") == "1":
        return results, results / "figures"
    return results, Path("_output")


def _v1_table(v1_verdicts, out: Path) -> pd.DataFrame | None:
    """v1's verdicts.csv: the given path, or with "auto" ``<out>_v1/verdicts.csv`` when it exists."""
    if v1_verdicts is None:
        return None
    path = out.with_name(out.name + "_v1") / "verdicts.csv" if v1_verdicts == "auto" else Path(v1_verdicts)
    if not path.exists():
        if v1_verdicts != "auto":
            raise SystemExit(f"v1 verdicts not found: {path}")
        return None
    return pd.read_csv(path)


def _config(run_dirs_: list[Path]) -> dict:
    """The resolved config of the first run whose ``config.yaml`` reads (for the report's setup)."""
    from omegaconf import OmegaConf

    for d in run_dirs_:
        try:
            cfg = OmegaConf.to_container(OmegaConf.load(d / "config.yaml"), resolve=True)
        except Exception:  # noqa: BLE001 - the report's setup line is optional; any unreadable config is skipped
            continue
        if isinstance(cfg, dict):
            return cfg
    return {}


def analyze(sweep_dir: str | Path, out_dir: str | Path, *, profile: str = "default", command: str = "",
            sweep_seconds: float | None = None, v1_verdicts: str | Path | None = "auto") -> dict:
    """Write into ``out_dir``: ``runs.csv``, ``curves.csv``, ``profiles.csv``, ``comparisons.csv``,
    ``verdicts.csv``, ``sensitivity.csv``, ``regime_power.csv``, ``pooled.csv``, ``blog_side_by_side.csv``,
    ``figures/*.png``, ``REPORT.md`` and ``COMMAND.txt``; for word-level data or an r2rt profile also
    ``r2rt_perplexity.csv``, ``r2rt_reproduction.csv``, ``r2rt_positions.csv`` and ``figures/r2rt_*.png``
    (:mod:`.r2rt`). ``v1_verdicts``: a v1 ``verdicts.csv`` for the
    report's appendix, "auto" (``<out_dir>_v1/verdicts.csv`` if present) or None."""
    if profile in STUDIES:  # a study with its own report (noise scale, data-conditioned states)
        module, func = STUDIES[profile]
        study = getattr(import_module(module, __name__), func)
        return study(sweep_dir, out_dir, command=command, sweep_seconds=sweep_seconds)
    out = Path(out_dir)
    skipped: list = []
    runs, curves, profiles = collect(sweep_dir, skipped)
    if runs.empty:
        raise SystemExit(f"no run records (summary.json) under {sweep_dir}: run the sweep first")
    write_tables_from(out, runs=runs, curves=curves, profiles=profiles)
    reg = regime(runs)
    table = comparisons(runs)
    verdict = verdicts(table, reg)
    pool = pooled(table, reg)
    pw = power(runs, table)
    tables = {"comparisons": table, "verdicts": verdict, "sensitivity": sensitivity(runs, reg),
              "regime_power": reg.merge(pw, on="dataset", how="left"), "pooled": pool,
              "blog_side_by_side": blog_side_by_side(runs)}
    write_tables_from(out, **tables)
    figs = [p.name for p in all_figures(runs, curves, profiles, verdict, out / "figures", table, pool)]
    meta = {
        "profile": profile, "command": command or f"experiments/analyze.py {sweep_dir} {out_dir}",
        "commit": git_commit(Path(__file__).parent),
        "sweep_wall": f"{sweep_seconds / 60:.1f} min" if sweep_seconds else "–",
        "config": _config([Path(d) for d in runs["run_dir"]]),
    }
    r2rt_md, words = "", r2rt_datasets(runs, profile)
    if words:  # r2rt's regime (word-level data or an r2rt profile): perplexity side by side, curves, positions
        r2rt_md, r2rt_tables = r2rt_section(runs, curves, profiles, meta, out, words)
        write_tables_from(out, **r2rt_tables)
    ctx = {"runs": runs, "curves": curves, "table": table, "verdicts": verdict, "regime": reg,
           "power": pw, "pooled": pool, "sensitivity": tables["sensitivity"],
           "side": tables["blog_side_by_side"], "meta": meta, "figures": figs, "skipped": skipped,
           "v1": _v1_table(v1_verdicts, out), "r2rt": r2rt_md}
    atomic_write_text(out / "REPORT.md", render(ctx))
    atomic_write_text(out / "COMMAND.txt", f"{meta['command']}\n# git commit {meta['commit']}; sweep {sweep_dir}\n")
    return {"runs": len(runs), "skipped": len(skipped), "verdicts": json.loads(verdict.to_json(orient="records"))}


def write_tables_from(out: Path, **tables: pd.DataFrame) -> None:
    """Each DataFrame as ``<out>/<name>.csv``, written atomically."""
    for name, df in tables.items():
        atomic_write_text(Path(out) / f"{name}.csv", df.to_csv(index=False, float_format="%.6g"))
