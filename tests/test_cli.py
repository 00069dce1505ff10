"""experiments/train.py as a user runs it: errors in one line, multirun with both launchers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "experiments" / "train.py"
TINY = ["logger=none", "trainer.epochs=1", "trainer.progress=false", "model.hidden_size=8",
        "data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8"]


def run(tmp_path, *args, timeout=240):
    return subprocess.run(
        [sys.executable, str(TRAIN), *args, f"paths.sweeps_root={tmp_path}/sweeps"],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["init_state=learnt"], "error: unknown init_state 'learnt'; valid choices: adaptive, encoder, learned, learned_noisy, noisy, zero"),
        (["-m", "data=synthetic_short,shakespeare"], "error: unknown data 'shakespeare'; valid choices:"),
        (["init_state.noise_std=-1"], "error: init_state: noise_std must be a non-negative finite number, got -1.0"),
        (["trainer.batch_size=0"], "error: trainer.batch_size=0 is not allowed; valid: >= 1"),
    ],
)
def test_bad_input_one_line_nonzero_no_results(tmp_path, args, message):
    p = run(tmp_path, *args, *TINY)
    assert p.returncode != 0
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), p.stderr
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("metrics.jsonl"))


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_two_job_multirun(tmp_path, launcher):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=5"]
    p = run(tmp_path, "-m", "init_state=zero,learned", f"hydra/launcher={launcher}", *extra, *TINY, timeout=400)
    assert p.returncode == 0, p.stderr[-2000:]
    summaries = sorted(tmp_path.rglob("summary.json"))
    assert [s.parent.parent.name for s in summaries] == ["learned", "zero"]
    assert all(json.loads(s.read_text())["status"] == "finished" for s in summaries)
    # The deterministic layout: <sweep>/<data>/<strategy>/seed=<k>
    assert summaries[0].parent == tmp_path / "sweeps" / "dev" / "synthetic_short" / "learned" / "seed=0"


def test_multirun_flag_after_an_override(tmp_path):
    """`train.py a=1 -m b=x,y` means a sweep (Hydra's argparse wants -m first: 8 lines of usage)."""
    p = run(tmp_path, *TINY, "-m", "init_state=zero,learned")
    assert p.returncode == 0, p.stderr[-2000:]
    assert len(list(tmp_path.rglob("summary.json"))) == 2
