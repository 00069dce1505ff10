"""Which runs a study may pair (issue 21, item 3): the runs of one dataset must agree on everything
but the strategy (and the seed, and a study's declared arm keys) and on their data; a half-finished
sweep's report names the runs each comparison lacks.

Sweeps are written by hand (:func:`test_claims_analysis.write_run`), never trained."""

import json
from pathlib import Path

import pandas as pd
import pytest
from test_claims_analysis import make_sweep, write_run
from test_conditioned import make_sweep as conditioned_sweep

from replication.analysis import pairing
from replication.analysis.output import AnalysisError
from replication.studies.runner import analyze

CONFIG = """# config_hash: 0123456789abcdef
seed: {seed}
sweep_name: {sweep}
model: {{cell: lstm, num_layers: 1, hidden_size: {hidden}, embedding_dim: 32}}
trainer: {{lr: {lr}, epochs: {epochs}, threads: {threads}, min_epochs: 0, warmup: 0}}
init_state: {{name: {name}, label: {name}, noise_std: 0.3}}
data: {{name: ds, path: {path}}}
logger: {{mode: offline}}
paths: {{sweep_dir: /somewhere/{sweep}}}
"""


def configure(run: Path, *, hidden=64, lr=0.02, epochs=3, threads=1, sweep="s", path="a.npz", old=False) -> None:
    """Write ``run``'s config.yaml as the harness does (resolved, headed by the run key); ``old``: a
    record from before trainer.min_epochs/warmup existed (absent = their off value)."""
    name, seed = run.parent.name, int(run.name.split("=")[1])
    text = CONFIG.format(seed=seed, sweep=sweep, hidden=hidden, lr=lr, epochs=epochs, threads=threads, name=name,
                         path=path)
    if old:
        text = text.replace(", min_epochs: 0, warmup: 0", "")
    (run / "config.yaml").write_text(text)


def sweep_of(root: Path, seeds=3, **per_label) -> Path:
    """zero and noisy on dataset ``ds``; ``per_label[label]`` = configure() arguments of that label."""
    make_sweep(root, labels=("zero", "noisy"), seeds=seeds)
    for label in ("zero", "noisy"):
        for s in range(seeds):
            configure(root / "ds" / label / f"seed={s}", **per_label.get(label, {}))
    return root


def test_runs_of_another_config_are_refused_naming_the_keys(tmp_path):
    """The issue's example: zero at 3 epochs, hidden 64 against noisy at 1 epoch, hidden 8, lr 0.03
    gave "C1-faster supported" with no warning."""
    sw = sweep_of(tmp_path / "sw", noisy={"hidden": 8, "lr": 0.03, "epochs": 1})
    with pytest.raises(AnalysisError) as e:
        analyze("default", sw, tmp_path / "out")
    line = str(e.value)
    assert "\n" not in line and "dataset ds" in line
    for part in ("model.hidden_size: 64 vs 8", "trainer.epochs: 1 vs 3", "trainer.lr: 0.02 vs 0.03"):
        assert part in line
    assert "ds/noisy/seed=0" in line and "ds/zero/seed=0" in line
    assert not (tmp_path / "out").exists()


def test_runs_on_other_data_are_refused_naming_the_sizes(tmp_path):
    """A parent folder paired zero runs of a 5.2M-step file with noisy runs of a 160k-step file."""
    sw = sweep_of(tmp_path / "sw")
    for s in range(3):
        p = sw / "ds" / "noisy" / f"seed={s}" / "summary.json"
        summary = json.loads(p.read_text())
        summary["sizes"] = {"train": {"sequences": 10, "steps": 5_200_000}}
        p.write_text(json.dumps(summary))
    with pytest.raises(AnalysisError, match=r"sizes\.train\.steps: 100 vs 5200000"):
        analyze("default", sw, tmp_path / "out")
    # the same with the data file named in the config but equal sizes
    sw2 = sweep_of(tmp_path / "sw2", noisy={"path": "b.npz"})
    with pytest.raises(AnalysisError, match=r"data\.path: \"a\.npz\" vs \"b\.npz\""):
        analyze("default", sw2, tmp_path / "out")


def test_what_does_not_change_the_numbers_may_differ(tmp_path):
    """Logging, paths, the sweep's name, threads, and an option recorded before it existed (at its
    off value) are not a different config: these runs are paired and analysed."""
    sw = sweep_of(tmp_path / "sw", noisy={"threads": 4, "sweep": "other"}, zero={"old": True})
    res = analyze("default", sw, tmp_path / "out")
    assert res["runs"] == 6 and res["verdicts"]


def test_a_study_s_arm_keys_may_differ(tmp_path):
    """The conditioned study's warm-up arm is zero with trainer.warmup = 5: declared, so paired."""
    conditioned_sweep(tmp_path / "sw", {"fc": {"encoder": -0.1}}, seeds=3)
    assert analyze("conditioned", tmp_path / "sw", tmp_path / "out")["verdicts"]
    (tmp_path / "sw" / "fc" / "zero" / "seed=1" / "config.yaml").write_text(
        "model: {cell: lstm, num_layers: 1, hidden_size: 16}\ntrainer: {epochs: 3, warmup: 0, score_from: 5}\n"
        "init_state: {name: zero, label: zero, encoder_steps: 5}\n")
    with pytest.raises(AnalysisError, match="model.hidden_size: 16 vs 8"):
        analyze("conditioned", tmp_path / "sw", tmp_path / "out")


def test_config_setting_mirrors_the_run_key():
    """The analysis ignores exactly the keys the run key ignores (replication.run, which imports torch)."""
    from replication import run

    assert pairing.NON_SEMANTIC == run.NON_SEMANTIC
    assert pairing.NON_SEMANTIC_TRAINER == run.NON_SEMANTIC_TRAINER
    assert pairing.OFF_VALUES == run.OFF_VALUES


def test_missing_runs_by_hand():
    runs = pd.DataFrame({"dataset": ["a"] * 7 + ["b"] * 2, "label": ["zero"] * 4 + ["noisy"] * 3 + ["zero", "noisy"],
                         "seed": [0, 1, 2, 5, 0, 1, 5, 0, 0]})
    m = pairing.missing_runs(runs)
    assert m.to_dict("records") == [{"dataset": "a", "label": "noisy", "missing": [2], "have": 3, "of": 4}]
    assert pairing.seed_ranges([0, 2, 3, 4, 7, 8]) == "0, 2–4, 7–8"


def test_a_half_finished_sweep_s_report_names_the_missing_runs(tmp_path):
    sw = make_sweep(tmp_path / "sw", datasets=("ds", "other"), seeds=6)
    for seed in (3, 4, 5):
        for f in (sw / "ds" / "learned" / f"seed={seed}").iterdir():
            f.unlink()
    write_run(sw, "other", "zero", 9)  # a seed only zero has so far
    for study in ("default", "conditioned", "noise"):
        out = tmp_path / study
        if study == "conditioned":
            conditioned_sweep(tmp_path / "csw", {"ds": {}}, seeds=4)
            (tmp_path / "csw" / "ds" / "encoder" / "seed=2" / "summary.json").unlink()
            analyze(study, tmp_path / "csw", out)
            text = (out / "REPORT.md").read_text()
            assert "- ds: encoder lacks seed 2 (3 of 4 seeds)" in text
            continue
        assert analyze(study, sw, out)["missing"] == 3 + 3  # learned 3-5 on ds; three labels' seed 9 on other
        text = (out / "REPORT.md").read_text()
        assert "## Runs missing from the comparisons" in text
        assert "- ds: learned lacks seeds 3–5 (3 of 6 seeds)" in text
        assert "- other: learned, learned_noisy, noisy lack seed 9 (6 of 7 seeds)" in text


def test_a_complete_sweep_s_report_has_no_missing_section(tmp_path):
    analyze("default", make_sweep(tmp_path / "sw", seeds=3), tmp_path / "out")
    assert "missing" not in (tmp_path / "out" / "REPORT.md").read_text().lower()
