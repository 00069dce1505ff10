"""The study runner's contract with a user (issue 21): what it refuses, with one line each, where it
writes, and that a results folder is replaced whole or not at all.

Sweeps are written by hand (:func:`test_claims_analysis.write_run`), never trained."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_conditioned import make_sweep as conditioned_sweep

from replication.analysis.output import AnalysisError
from replication.studies.runner import analyze

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)


# --- item 9: messages that say what is wrong ---------------------------------------------------------


def test_a_missing_sweep_folder_is_named_as_missing(tmp_path):
    with pytest.raises(AnalysisError, match=r"sweep folder .*nowhere does not exist"):
        analyze("default", tmp_path / "nowhere", tmp_path / "out")


def test_a_plain_file_as_sweep_is_named_as_not_a_folder(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(AnalysisError, match=r"plain is a file, not a sweep folder"):
        analyze("default", tmp_path / "plain", tmp_path / "out")


def test_an_empty_sweep_folder_says_run_the_sweep_first(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisError, match="no run records"):
        analyze("default", tmp_path / "empty", tmp_path / "out")


def test_noise_on_a_conditioned_sweep_says_the_sweep_holds_none_of_its_runs(tmp_path):
    """v1 said "no verdict", as if the noise grid had been inconclusive."""
    conditioned_sweep(tmp_path / "sweep", {"fc": {"encoder": -0.1}}, seeds=3)
    with pytest.raises(AnalysisError, match=r"does not hold the noise study's runs .*noisy.*learned_noisy"):
        analyze("noise", tmp_path / "sweep", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_says_it_in_one_line_with_exit_code_2(tmp_path):
    (tmp_path / "plain").write_text("x")
    for args in (["experiments/analyze.py", str(tmp_path / "plain"), str(tmp_path / "out")],
                 ["-m", "replication.studies", "analyze", "default", "--sweep", str(tmp_path / "nowhere")],
                 ["experiments/analyze.py", str(tmp_path), str(tmp_path / "o"), "--profile", "bogus"]):
        r = cli(*args, cwd=ROOT)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: "), r.stderr
