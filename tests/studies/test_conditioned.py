"""The data-conditioned study's analysis (issue 13): comparisons, the plain answer, the warm-up check,
the report's scored positions and the figures, on sweeps written by hand (never trained), so that
every verdict is known in advance."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication.analysis.collect import collect
from replication.studies.conditioned.tables import (
    COLUMNS,
    answer,
    comparisons,
    dataset_answer,
    scoring,
    warmup_check,
)
from replication.studies.runner import analyze

PROFILE = [3.0, 2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 0.9]


def write_run(root: Path, dataset: str, label: str, seed: int, test: float, *, task: str = "forecast",
              score_from: int = 5, best_epoch: int = 1, epochs: int = 3) -> Path:
    """One run directory as the harness writes it (``config.yaml``, ``metrics.jsonl``, ``summary.json``);
    zero_warmup gets ``trainer.warmup = 5``, every other arm ``trainer.score_from = score_from``."""
    d = Path(root) / dataset / label / f"seed={seed}"
    d.mkdir(parents=True, exist_ok=True)
    warm = 5 if label == "zero_warmup" else 0
    (d / "config.yaml").write_text(
        "model: {cell: lstm, num_layers: 1, hidden_size: 8}\n"
        f"trainer: {{epochs: {epochs}, warmup: {warm}, score_from: {0 if warm else score_from}}}\n"
        f"init_state: {{name: {label.split('_')[0]}, label: {label}, encoder_steps: 5}}\n")
    rows = [{"epoch": i, "train_loss": 1.0, "train_loss_clean": 1.0, "val_loss": test, "test_loss": test}
            for i in range(epochs)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    offset = {"encoder": -0.5, "learned": -0.2}.get(label, 0.0)  # only at the unscored steps
    profile = [] if task == "classify" else [v + (offset if t < 5 else 0.0) + 0.01 * seed for t, v in enumerate(PROFILE)]
    s = {"data": dataset, "task": task, "regime": "windows", "strategy": label.split("_")[0], "label": label,
         "seed": seed, "status": "finished", "diverged": False, "epochs_run": epochs, "epochs_max": epochs,
         "best_epoch": best_epoch, "best_val_loss": test + 0.05, "test_at_best": test, "wall_time": 1.0,
         "position_profile": profile, "sizes": {"train": {"sequences": 10, "steps": 100}}}
    (d / "summary.json").write_text(json.dumps(s))
    return d


def make_sweep(root: Path, effects: dict[str, dict[str, float]], seeds: int = 6, tasks: dict | None = None,
               **kw) -> Path:
    """Test loss = 1 + 0.01·seed (shared by the arms: the pairing removes it) + effect + a tiny jitter;
    zero_warmup copies zero's value exactly unless it has its own effect."""
    for ds, eff in effects.items():
        for label in ("zero", "learned", "encoder", "zero_warmup"):
            for s in range(seeds):
                jitter = 0.0 if label in ("zero", "zero_warmup") else 1e-3 * ((s * 7 + len(label)) % 3)
                write_run(root, ds, label, s, 1.0 + 0.01 * s + eff.get(label, 0.0) + jitter,
                          task=(tasks or {}).get(ds, "forecast"), **kw)
    return Path(root)


@pytest.fixture(scope="module")
def clear(tmp_path_factory):
    """Encoder −10%, learned −2% (so encoder beats both learned and warm-up), zero_warmup = zero; a
    classification dataset where the encoder is 3% worse than learned."""
    tmp = tmp_path_factory.mktemp("cond")
    make_sweep(tmp / "sweep", {"fc": {"encoder": -0.10, "learned": -0.02},
                               "cls": {"encoder": 0.01, "learned": -0.02}}, tasks={"cls": "classify"})
    res = analyze("conditioned", tmp / "sweep", tmp / "out", command="make reproduce PROFILE=conditioned",
                  sweep_seconds=600)
    return tmp / "out", res


def _row(table: pd.DataFrame, ds: str, a: str, b: str) -> pd.Series:
    return table[(table["dataset"] == ds) & (table["a"] == a) & (table["b"] == b)].iloc[0]


def test_encoder_clearly_better_than_learned_is_better_and_the_answer_says_yes(clear):
    out, res = clear
    t = pd.read_csv(out / "conditioned_comparisons.csv")
    assert list(t.columns) == COLUMNS and t["exploratory"].all()
    assert len(t) == 10 and set(t.groupby("dataset").size()) == {5}  # five comparisons per dataset
    r = _row(t, "fc", "encoder", "learned")
    assert r["verdict"] == "better" and r["rel_pct"] == pytest.approx(-8.0, abs=0.2)
    assert _row(t, "fc", "encoder", "zero_warmup")["verdict"] == "better"
    assert _row(t, "cls", "encoder", "learned")["verdict"] == "worse"
    assert dataset_answer(t, "fc")["answer"] == "yes" and dataset_answer(t, "cls")["answer"] == "no"
    report = (out / "REPORT.md").read_text()
    assert "**fc: yes.**" in report and "**cls: no.**" in report
    assert "yes on 1 of 2 datasets (fc), no on 1 (cls)" in report
    # analyze()'s return: one verdict per comparison, as experiments/analyze.py prints them
    assert res["runs"] == 48 and res["skipped"] == 0
    assert {"claim": "encoder vs learned", "dataset": "fc", "verdict": "better"} in res["verdicts"]


def test_identical_zero_and_zero_warmup_are_negligible_and_checked(clear):
    out, _ = clear
    t = pd.read_csv(out / "conditioned_comparisons.csv")
    for ds in ("fc", "cls"):
        r = _row(t, ds, "zero_warmup", "zero")
        assert r["verdict"] == "negligible" and r["mean_diff"] == 0
    check = pd.read_csv(out / "conditioned_warmup_check.csv").set_index("dataset")
    assert check.loc["cls", "identical"] and check.loc["cls", "pairs"] == 6
    report = (out / "REPORT.md").read_text()
    assert "zero_warmup **equals zero** on all 6 paired seeds" in report
    assert "Warm-up changes nothing here" in report.split("**cls: no.**")[1].split("\n")[0]


def test_report_names_the_scored_positions_protocol_and_setup(clear):
    out, _ = clear
    report = (out / "REPORT.md").read_text()
    assert "do not edit by hand" in report and "EXPLORATORY" in report and "Protocol v2" in report
    assert "**Scored positions: steps t ≥ 5 (0-based) of every sequence, for every arm**" in report
    assert "Encoder: k = 5 steps. Warm-up: k = 5 steps" in report
    assert "command: `make reproduce PROFILE=conditioned`" in report and "10.0 min" in report
    assert "git commit" in report and "git commit" in (out / "COMMAND.txt").read_text()
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["scored_from"]) == {5} and set(runs.loc[runs["label"] == "zero_warmup", "warmup"]) == {5}
    for name in ("runs", "curves", "profiles", "conditioned_regime"):
        assert (out / f"{name}.csv").exists(), name


def test_figures_are_written_and_the_classification_dataset_has_no_position_panel(clear):
    out, _ = clear
    for name in ("conditioned_positions.png", "conditioned_effects.png"):
        p = out / "figures" / name
        assert p.exists() and p.stat().st_size > 5000, name
        assert f"](figures/{name})" in (out / "REPORT.md").read_text()
    assert "No per-position profile for cls" in (out / "REPORT.md").read_text()
    prof = pd.read_csv(out / "profiles.csv")
    assert set(prof["dataset"]) == {"fc"}


def test_report_warns_when_arms_are_not_scored_on_the_same_positions(tmp_path):
    make_sweep(tmp_path / "sweep", {"fc": {"encoder": -0.1}}, seeds=3)
    write_run(tmp_path / "sweep", "fc", "learned", 0, 1.0, score_from=0)  # overwrite one run: scored from t = 0
    runs = scoring(collect(tmp_path / "sweep")[0])
    assert sorted(set(runs["scored_from"])) == [0, 5]
    analyze("conditioned", tmp_path / "sweep", tmp_path / "out")
    assert "arms are NOT scored on the same positions" in (tmp_path / "out" / "REPORT.md").read_text()


def test_answer_rules_from_verdicts_alone():
    """yes iff better than both; no iff worse than or negligible against either; else undecided."""
    def table(vl, vw):
        return pd.DataFrame([{"dataset": "d", "a": "encoder", "b": "learned", "verdict": vl, "rel_pct": -1.0,
                              "rel_ci_low": -2.0, "rel_ci_high": 0.5},
                             {"dataset": "d", "a": "encoder", "b": "zero_warmup", "verdict": vw, "rel_pct": -1.0,
                              "rel_ci_low": -2.0, "rel_ci_high": 0.5}])
    cases = {("better", "better"): "yes", ("better", "negligible"): "no", ("worse", "inconclusive"): "no",
             ("better", "inconclusive"): "undecided", ("inconclusive", "inconclusive"): "undecided"}
    for (vl, vw), want in cases.items():
        assert dataset_answer(table(vl, vw), "d")["answer"] == want, (vl, vw)
    assert "undecided on every dataset" in "\n".join(answer(table("inconclusive", "better")))
    assert answer(pd.DataFrame(columns=COLUMNS))[0].startswith("No answer")


def test_comparisons_pair_by_seed_and_skip_missing_arms(tmp_path):
    make_sweep(tmp_path / "sweep", {"fc": {"encoder": -0.05}}, seeds=4)
    runs = collect(tmp_path / "sweep")[0]
    runs = runs[(runs["label"] != "zero_warmup") & ~((runs["label"] == "learned") & (runs["seed"] == 0))]
    t = comparisons(runs)
    assert set(zip(t["a"], t["b"])) == {("learned", "zero"), ("encoder", "zero"), ("encoder", "learned")}
    assert _row(t, "fc", "encoder", "learned")["n"] == 3 and _row(t, "fc", "encoder", "zero")["n"] == 4
    assert np.isfinite(t["p_holm"]).all() and (t["p_holm"] >= t["p"]).all()
    assert warmup_check(runs).empty
