"""Analysis of a sweep: tidy tables (:mod:`.collect`), claim verdicts (:mod:`.claims`), figures
(:mod:`.figures`) and the generated report (:mod:`.report`). :func:`analyze` runs them all."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..io import atomic_write_text
from .claims import blog_side_by_side, comparisons, verdicts
from .collect import collect, load_tables, run_dirs, write_tables
from .figures import all_figures
from .report import render

__all__ = ["analyze", "blog_side_by_side", "collect", "comparisons", "load_tables", "run_dirs", "verdicts",
           "write_tables"]


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


def analyze(sweep_dir: str | Path, out_dir: str | Path, *, profile: str = "default", command: str = "",
            sweep_seconds: float | None = None) -> dict:
    """Write ``runs.csv``, ``curves.csv``, ``profiles.csv``, ``comparisons.csv``, ``verdicts.csv``,
    ``figures/*.png``, ``REPORT.md`` and ``COMMAND.txt`` for the sweep into ``out_dir``."""
    out = Path(out_dir)
    runs, curves, profiles = write_tables(sweep_dir, out)
    if runs.empty:
        raise SystemExit(f"no finished runs under {sweep_dir}: run the sweep first")
    table = comparisons(runs)
    verdict = verdicts(table)
    side = blog_side_by_side(runs)
    for name, df in (("comparisons", table), ("verdicts", verdict), ("blog_side_by_side", side)):
        atomic_write_text(out / f"{name}.csv", df.to_csv(index=False, float_format="%.6g"))
    figs = [p.name for p in all_figures(runs, curves, profiles, verdict, out / "figures")]
    first = run_dirs(sweep_dir)[0] / "config.yaml"
    from omegaconf import OmegaConf

    meta = {
        "profile": profile, "command": command or f"experiments/analyze.py {sweep_dir} {out_dir}",
        "commit": git_commit(Path(__file__).parent),
        "sweep_wall": f"{sweep_seconds / 60:.1f} min" if sweep_seconds else "–",
        "config": OmegaConf.to_container(OmegaConf.load(first), resolve=True),
    }
    atomic_write_text(out / "REPORT.md", render(runs, table, verdict, side, meta, figs, curves))
    atomic_write_text(out / "COMMAND.txt", f"{meta['command']}\n# git commit {meta['commit']}; sweep {sweep_dir}\n")
    return {"runs": len(runs), "verdicts": json.loads(verdict.to_json(orient="records"))}
