"""Run a study and analyse it, the same way for every study: each experiment yaml as one Hydra
multirun of ``experiments/train.py`` into the study's sweep, then the collection of that sweep into
tables (:func:`replication.analysis.collect.collect`) handed to the study's own analysis, which writes
its results folder; ``COMMAND.txt`` records how."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
import time
from pathlib import Path

from replication.analysis.collect import collect
from replication.analysis.output import MARKER, AnalysisError, Sweep, git_commit, run_config, staged
from replication.analysis.pairing import NON_SEMANTIC_TRAINER, incomparable, missing_runs
from replication.io import atomic_write_text

from .base import Study

ROOT = Path(__file__).resolve().parents[3]  # the checkout: experiments/, conf/, sweeps/, results/
TRAIN = ROOT / "experiments" / "train.py"


# Overrides of where and how runs are logged or launched (replication.run's non-semantic keys): they
# leave the study's numbers as committed, so its own sweep and results folders stay.
_LOGISTIC = ("logger", "paths", "hydra")


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def variant(args: list[str]) -> str:
    """``""`` when the Hydra overrides ``args`` leave the study's runs as committed (none, or only
    logging, paths, launcher, threads and the like), else a short hash of them: the suffix of the
    sweep and results folders of that changed run, so it never writes over the committed ones."""
    trainer = {f"trainer.{k}" for k in NON_SEMANTIC_TRAINER}
    changing = [a for a in args if _key(a).split(".")[0].split("/")[0] not in _LOGISTIC and _key(a) not in trainer]
    return hashlib.sha256("\0".join(changing).encode()).hexdigest()[:8] if changing else ""


def sweep_name(study: Study, values: dict[str, str], args: list[str] = ()) -> str:
    """``sweeps/<this>``: the study's sweep (``-<variant>`` for overrides that change its runs), per
    input file for a study that reads the user's data."""
    v = variant(list(args))
    base = (study.sweep or study.name) + (f"-{v}" if v else "")
    value = values.get(study.results_from, "") if study.results_from else ""
    return f"{base}/{Path(value).stem}" if value else base


def make_command(study: Study, jobs: int, args: list[str], values: dict[str, str]) -> str:
    """The ``make reproduce`` line equivalent to this run (recorded in COMMAND.txt and the report)."""
    opts = "".join(f" {k}={shlex.quote(v)}" for k, v in values.items() if v)
    extra = f" ARGS={shlex.quote(' '.join(args))}" if args else ""
    return f"make reproduce PROFILE={study.name} JOBS={jobs}{opts}{extra}"


def train_commands(study: Study, jobs: int, args: list[str], values: dict[str, str],
                   root: Path = ROOT) -> list[list[str]]:
    """The Hydra multiruns, one per experiment yaml, in order, into ``<root>/sweeps`` (raises
    ``ValueError`` for a missing required option or input file)."""
    if study.results_from and values.get(study.results_from):
        path = Path(values[study.results_from])
        if not path.is_file():
            raise ValueError(f"{study.results_from}={path}: no such file")
        values = {**values, study.results_from: str(path.resolve())}
    fixed = [f"paths.sweeps_root={Path(root) / 'sweeps'}", f"sweep_name={sweep_name(study, values, args)}",
             f"hydra.launcher.n_jobs={jobs}", *study.overrides(values)]
    return [[sys.executable, str(TRAIN), f"experiment={e}", *fixed, *args] for e in study.experiments]


def results_dir(study: Study, values: dict[str, str], args: list[str], root: Path = ROOT,
                results: str | Path | None = None) -> Path:
    """Where ``run`` writes: ``results`` if given, else the study's results folder under ``<root>``
    (``results/<name>-<variant>/`` when ``args`` change its runs: :func:`variant`)."""
    if results:
        return Path(results).absolute()
    return Path(root) / study.results_dir(values=values, variant=variant(args))


def variant_note(study: Study, values: dict[str, str], args: list[str], results: str | Path | None) -> str:
    """The line saying that a changed run writes beside the committed results, and how to write over them."""
    if not variant(args) or results:
        return ""
    return (f"these overrides change the study's runs, so they go to sweeps/{sweep_name(study, values, args)}/ and "
            f"{study.results_dir(values=values, variant=variant(args))}/, not the committed folders; "
            f"RESULTS={study.results_dir(values=values)} (or --results DIR) writes there instead")


def run(study: Study, jobs: int, args: list[str], values: dict[str, str], root: Path = ROOT,
        results: str | Path | None = None) -> int:
    """Train every experiment of ``study`` (finished runs are skipped) into ``<root>/sweeps``, then
    analyse into ``results`` (default: :func:`results_dir`); the exit status."""
    commands = train_commands(study, jobs, args, values, root)
    if note := variant_note(study, values, args, results):
        print(note)
    start = time.time()
    for cmd in commands:
        code = subprocess.run(cmd, cwd=ROOT).returncode
        if code:
            return code
    out = results_dir(study, values, args, root, results)
    res = analyze(study, Path(root) / "sweeps" / sweep_name(study, values, args), out,
                  command=make_command(study, jobs, args, values), sweep_seconds=time.time() - start)
    print_summary(res, out)
    return 0


def analyze(study: Study | str, sweep_dir: str | Path | None = None, out_dir: str | Path | None = None, *,
            command: str = "", sweep_seconds: float | None = None, tables: str | Path | None = None) -> dict:
    """Collect ``sweep_dir`` (default: the study's) and write the study's results into ``out_dir``
    (default: its results folder); ``study`` is a :class:`Study` or its name. Returns ``{"runs",
    "skipped", "missing", "verdicts"}`` (``missing``: runs a half-finished sweep lacks, named in the report)."""
    if isinstance(study, str):
        from . import get

        study = get(study)
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else ROOT / study.sweep_dir()
    out = Path(out_dir) if out_dir is not None else ROOT / study.results_dir()
    skipped: list = []
    if tables is not None:
        # A re-analysis of a results folder's own runs/curves/profiles.csv (e.g. under a new
        # protocol): the sweep's checks ran when those tables were written.
        from replication.analysis.collect import load_tables

        sweep_dir = Path(tables)
        runs, curves, profiles = load_tables(sweep_dir)
        if runs.empty:
            raise AnalysisError(f"no runs.csv in {sweep_dir}")
    else:
        check_sweep_dir(sweep_dir)
        runs, curves, profiles = collect(sweep_dir, skipped)
        if runs.empty:
            raise AnalysisError(f"no run records (summary.json) under {sweep_dir}: run the sweep first")
        check_holds(study, runs, sweep_dir)
        mismatch = incomparable(runs, sweep_dir, study.arm_keys)
        if mismatch:
            raise AnalysisError(mismatch)
    meta = {"study": study.name, "command": command or f"python -m replication.studies analyze {study.name} "
                                                       f"--sweep {sweep_dir} --out {out}",
            "commit": git_commit(), "sweep": str(sweep_dir),
            "sweep_wall": f"{sweep_seconds / 60:.1f} min" if sweep_seconds else "–",
            "config": run_config([Path(d) for d in runs["run_dir"]]), "out": str(out)}
    # Built beside ``out`` and renamed into place: a killed analysis never leaves a mixed folder.
    with staged(out) as tmp:
        verdicts = study.analyze_function()(Sweep(runs, curves, profiles, skipped, meta), tmp)
        atomic_write_text(tmp / MARKER, f"{meta['command']}\n# git commit {meta['commit']}; sweep {sweep_dir}\n")
    missing = int(missing_runs(runs)["missing"].map(len).sum())
    return {"runs": len(runs), "skipped": len(skipped), "missing": missing, "verdicts": verdicts}


def check_sweep_dir(sweep_dir: Path) -> None:
    """Raise :class:`AnalysisError` unless ``sweep_dir`` is an existing folder (a sweep to read)."""
    if not sweep_dir.exists():
        raise AnalysisError(f"sweep folder {sweep_dir} does not exist")
    if not sweep_dir.is_dir():
        raise AnalysisError(f"{sweep_dir} is a file, not a sweep folder (the folder holding the runs' summary.json)")


def check_holds(study: Study, runs, sweep_dir: Path) -> None:
    """Raise :class:`AnalysisError` when the sweep holds no run of what ``study`` needs: another
    study's sweep, whose analysis here would only end in "no verdict"."""
    held = set(runs["strategy"].astype(str)) | set(runs["label"].astype(str))
    if study.needs and not held & set(study.needs):
        raise AnalysisError(f"{sweep_dir} does not hold the {study.name} study's runs (a run of "
                            f"{' or '.join(study.needs)}); its labels: {', '.join(sorted(set(runs['label'].astype(str))))}")


def print_summary(res: dict, out: Path) -> None:
    skipped = f" ({res['skipped']} file(s) skipped, listed above)" if res["skipped"] else ""
    print(f"{res['runs']} runs analysed{skipped} -> {out}/REPORT.md")
    if res.get("missing"):
        print(f"  {res['missing']} runs missing from the comparisons (seeds some labels lack; listed in the report)")
    if not res["verdicts"]:
        print("  no verdict: no dataset has zero and another strategy finished for the same seed")
    for v in res["verdicts"]:
        print(f"  {v['claim']:<26} {v['dataset']:<22} {v['verdict']}")
