"""Analysis: reading sweeps (any layout, old and new records, damaged files), tables, figures and the
report on ordinary sweeps that v1 crashed on (issue 8, defect 6), notebooks that leave results/ alone.

Sweeps here are written by hand (:func:`write_run`), never trained, so every number is known."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication.analysis import collect
from replication.analysis.collect import auc
from replication.analysis.output import AnalysisError
from replication.studies.runner import analyze

ROOT = Path(__file__).resolve().parents[2]


def write_run(root: Path, dataset: str, label: str, seed: int, *, clean=(1.0, 0.8, 0.7), noise: float = 0.0,
              test: float = 1.0, best_epoch: int | None = None, diverged: bool = False, new_keys: bool = True,
              task: str = "forecast", regime: str = "windows", early: float | None = None, sub: str = "") -> Path:
    """One run directory as the harness writes it: ``config.yaml``, ``metrics.jsonl``, ``summary.json``.

    ``clean`` is the noise-off training curve; the in-training curve is ``clean + noise``. ``test`` is
    the test loss at the best epoch (default: the last). ``new_keys=False`` writes a pre-v2 record
    (no ``train_loss_clean``, ``test_early``, ``epochs_max``, ...). ``sub`` nests the run deeper."""
    d = Path(root) / sub / dataset / label / f"seed={seed}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.yaml").write_text("model: {cell: lstm, num_layers: 1, hidden_size: 8}\ntrainer: {epochs: 3}\n"
                                   "init_state: {noise_std: 0.3}\n")
    best = len(clean) - 1 if best_epoch is None else best_epoch
    early = test * 1.5 if early is None else early
    rows = []
    for i, c in enumerate(clean):
        m = {"epoch": i, "train_loss": c + noise, "val_loss": c + 0.1, "test_loss": test + (best - i) * 0.01,
             "gap": 0.1, "wall_time": 0.1 * (i + 1)}
        if new_keys:
            m |= {"train_loss_clean": c, "val_early": early, "test_early": early}
        rows.append(m)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = {"data": dataset, "task": task, "regime": regime, "strategy": label.split("_s0")[0], "label": label,
         "seed": seed, "status": "diverged" if diverged else "finished", "diverged": diverged, "config_hash": "h",
         "epochs_run": len(clean), "wall_time": 0.3, "final_train_loss": clean[-1] + noise if clean else None,
         "sizes": {"train": {"sequences": 10, "steps": 100}}}
    if not diverged:
        s |= {"best_epoch": best, "best_val_loss": clean[best] + 0.1, "test_at_best": test,
              "train_at_best": clean[best] + noise, "gap_at_best": 0.1 - noise, "position_profile": [2.0, 1.0, None]}
        if new_keys:
            s |= {"train_clean_at_best": clean[best], "val_early_at_best": early, "test_early_at_best": early}
    if new_keys:
        s |= {"epochs_max": len(clean), "early_k": 5}
    (d / "summary.json").write_text(json.dumps(s))
    return d


def make_sweep(root: Path, datasets=("ds",), labels=("zero", "noisy", "learned", "learned_noisy"), seeds=4,
               effect: dict | None = None, **kw) -> Path:
    """A sweep whose test loss is 1 + effect[label] + a per-seed offset shared by all strategies."""
    effect = effect or {}
    for ds in datasets:
        for label in labels:
            for s in range(seeds):
                write_run(root, ds, label, s, test=1.0 + 0.01 * s + effect.get(label, 0.0) + 1e-4 * ((s * 7 + len(label)) % 3),
                          **kw)
    return Path(root)


def test_auc_by_hand():
    assert auc([3.0, 2.0, 1.0]) == pytest.approx(2.0)  # trapezoid (2.5+1.5)/2
    assert auc([4.0]) == 4.0 and np.isnan(auc([]))
    assert auc([3.0, 2.0, 1.0, 0.5], horizon=3) == pytest.approx(2.0)  # only the first 3 epochs
    assert np.isnan(auc([3.0, float("nan")]))


def test_collect_reads_runs_clean_and_in_training_auc(tmp_path):
    write_run(tmp_path, "ds", "zero", 0, clean=(3.0, 2.0, 1.5))
    write_run(tmp_path, "ds", "learned", 0, clean=(2.5, 1.4, 1.2), noise=0.5)
    runs, cur, prof = collect(tmp_path)
    r = runs.set_index("label")
    assert r.loc["zero", "epochs_to_zero_final"] == 3 and r.loc["learned", "epochs_to_zero_final"] == 2
    assert r.loc["learned", "auc_train_clean"] == pytest.approx((1.95 + 1.3) / 2)
    assert r.loc["learned", "auc_train_in_training"] == pytest.approx((1.95 + 1.3) / 2 + 0.5)
    # the gap is val − clean train, whatever the noise of the in-training loss
    assert r.loc["learned", "gap_at_best"] == pytest.approx(0.1)
    assert r.loc["zero", "peaked_before_last"] == 0 and r.loc["zero", "early_k"] == 5
    assert len(cur) == 6 and len(prof) == 4  # the None position is dropped
    assert {"train_loss_clean", "test_early"} <= set(cur.columns)


def test_collect_finds_runs_at_any_depth(tmp_path):
    """Hydra users choose their own hydra.sweep.subdir: runs may sit at any depth."""
    write_run(tmp_path, "ds", "zero", 0, sub="0")
    write_run(tmp_path, "ds", "learned", 0, sub="a/b/c")
    write_run(tmp_path, "ds", "noisy", 0)
    runs, _, _ = collect(tmp_path)
    assert sorted(runs["label"]) == ["learned", "noisy", "zero"]


def test_old_records_without_new_keys_give_nan_not_errors(tmp_path):
    make_sweep(tmp_path / "sw", new_keys=False, seeds=3)
    runs, curves, _ = collect(tmp_path / "sw")
    for col in ("auc_train_clean", "train_clean_at_best", "gap_at_best", "test_early_at_best", "epochs_max"):
        assert runs[col].isna().all(), col
    assert runs["auc_train_in_training"].notna().all()
    res = analyze("default", tmp_path / "sw", tmp_path / "out")
    v = pd.read_csv(tmp_path / "out" / "verdicts.csv")
    assert "C1-faster" not in set(v["claim"])  # no clean curve: no verdict, not a made-up one
    assert "C1-generalize" in set(v["claim"]) and res["runs"] == 12


def test_zero_only_sweep_gives_tables_and_figures_without_verdicts(tmp_path, capsys):
    """v1: KeyError: 'claim'."""
    make_sweep(tmp_path / "sw", labels=("zero",), datasets=("a", "b"))
    res = analyze("default", tmp_path / "sw", tmp_path / "out")
    out = tmp_path / "out"
    assert res["verdicts"] == [] and (out / "REPORT.md").exists()
    assert len(pd.read_csv(out / "runs.csv")) == 8
    assert (out / "figures" / "learning_curves.png").exists()
    assert "no verdict" in (out / "REPORT.md").read_text().lower()


def test_all_diverged_sweep_gives_tables_without_verdicts(tmp_path):
    """v1: KeyError: 'dataset' (runs that diverge in their first epoch leave no metrics line)."""
    make_sweep(tmp_path / "sw", diverged=True, clean=())
    res = analyze("default", tmp_path / "sw", tmp_path / "out")
    assert res["runs"] == 16 and res["verdicts"] == []
    assert pd.read_csv(tmp_path / "out" / "runs.csv")["diverged"].all()
    assert "diverged" in (tmp_path / "out" / "REPORT.md").read_text()


def test_unreadable_files_are_named_in_one_line_each(tmp_path, capsys):
    """v1: an unnamed JSONDecodeError traceback."""
    sw = make_sweep(tmp_path / "sw", seeds=3)
    bad_summary = sw / "ds" / "noisy" / "seed=1" / "summary.json"
    bad_summary.write_text('{"data": "ds", "label": ')
    bad_metrics = sw / "ds" / "learned" / "seed=2" / "metrics.jsonl"
    bad_metrics.write_text(bad_metrics.read_text() + "{not json\n")
    no_key = sw / "ds" / "zero" / "seed=2" / "summary.json"
    no_key.write_text(json.dumps({"status": "finished"}))
    capsys.readouterr()
    res = analyze("default", sw, tmp_path / "out")
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 3, err
    for path in (bad_summary, bad_metrics, no_key):
        assert sum(line.startswith(f"skipping {path}: ") for line in err) == 1
    assert res["runs"] == 10  # two summaries unreadable; the run with bad metrics keeps its summary
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    row = runs[(runs.label == "learned") & (runs.seed == 2)].iloc[0]
    assert np.isnan(row.auc_train_clean) and row.test_at_best > 0
    assert "skipping" in (tmp_path / "out" / "REPORT.md").read_text()


def test_duplicate_runs_are_skipped_not_averaged(tmp_path, capsys):
    write_run(tmp_path, "ds", "zero", 0, sub="first", test=1.0)
    write_run(tmp_path, "ds", "zero", 0, sub="second", test=2.0)
    runs, _, _ = collect(tmp_path)
    assert len(runs) == 1 and runs["test_at_best"].iloc[0] == 1.0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"skipping {tmp_path / 'second'}") and "duplicate" in err[0]


def test_empty_sweep_is_one_line(tmp_path):
    with pytest.raises(AnalysisError, match="no run records"):
        analyze("default", tmp_path, tmp_path / "out")


def _results(tmp_path: Path) -> Path:
    sw = make_sweep(tmp_path / "sw", datasets=("treering_windows", "treering_stateful"), seeds=3)
    analyze("default", sw, tmp_path / "results")
    return tmp_path / "results"


def test_notebooks_leave_results_alone(tmp_path, monkeypatch):
    """Executing a notebook must not rewrite committed files: figures go to notebooks/_output unless
    INITSTATE_NB_REFRESH=1 asks to refresh results/<profile>/figures."""
    import nbformat
    from nbclient import NotebookClient

    results = _results(tmp_path)
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    nbdir = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbdir, ignore=shutil.ignore_patterns("_output"))
    monkeypatch.setenv("INITSTATE_RESULTS", str(results))
    monkeypatch.delenv("INITSTATE_NB_FIGS", raising=False)
    monkeypatch.delenv("INITSTATE_NB_REFRESH", raising=False)
    # The default profile's notebooks (01-03); the studies' notebooks read their own tables through
    # the same notebook_dirs() and are executed by tests/test_notebooks.py.
    for path in sorted(nbdir.glob("0[1-3]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(nbdir)}}).execute()
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before
    assert list((nbdir / "_output").glob("*.png"))


def test_notebook_dirs_refresh_only_when_asked(tmp_path, monkeypatch):
    from replication.analysis import notebook_dirs

    monkeypatch.setenv("INITSTATE_RESULTS", str(tmp_path / "r"))
    monkeypatch.delenv("INITSTATE_NB_FIGS", raising=False)
    monkeypatch.delenv("INITSTATE_NB_REFRESH", raising=False)
    assert notebook_dirs() == (tmp_path / "r", Path("_output"))
    monkeypatch.setenv("INITSTATE_NB_REFRESH", "1")
    assert notebook_dirs() == (tmp_path / "r", tmp_path / "r" / "figures")
    monkeypatch.setenv("INITSTATE_NB_FIGS", str(tmp_path / "f"))
    assert notebook_dirs()[1] == tmp_path / "f"


def test_one_paired_seed_is_written_in_the_singular(tmp_path):
    """The report said "over 1 paired seeds"."""
    analyze("default", make_sweep(tmp_path / "sw", seeds=1), tmp_path / "out")
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert "over 1 paired seed;" in text and "1 paired seeds" not in text
