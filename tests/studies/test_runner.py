"""The study runner's contract with a user (issue 21): what it refuses, with one line each, where it
writes, and that a results folder is replaced whole or not at all.

Sweeps are written by hand (:func:`test_claims_analysis.write_run`), never trained."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_claims_analysis import make_sweep
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
    with pytest.raises(AnalysisError, match=r"does not hold the noise study.s runs .*noisy or learned_noisy.*its labels: encoder, learned, zero, zero_warmup"):
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


# --- item 8 (and 6's read-only output): a results folder is replaced whole or not at all --------------

KILL_MID_WRITE = """
import os, signal, sys
import replication.studies.claims.analysis as A
from replication.studies.runner import analyze

def killed(out, text):  # the tables are written, the report is next: the process dies here
    os.kill(os.getpid(), signal.SIGKILL)

A.write_report = killed
analyze("default", sys.argv[1], sys.argv[2])
"""


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_an_analysis_killed_mid_write_leaves_the_previous_results_whole(tmp_path):
    out = tmp_path / "results"
    analyze("default", make_sweep(tmp_path / "a", seeds=3), out)
    before = _files(out)
    assert {"runs.csv", "REPORT.md", "verdicts.csv", "COMMAND.txt"} <= set(before)
    b = make_sweep(tmp_path / "b", seeds=4, effect={"noisy": 0.05})  # other numbers: every table changes
    (tmp_path / "kill.py").write_text(KILL_MID_WRITE)
    r = cli(str(tmp_path / "kill.py"), str(b), str(out), cwd=tmp_path)
    assert r.returncode == -9, r.stderr
    assert _files(out) == before  # not new runs.csv beside an old REPORT.md
    partial = [p.name for p in tmp_path.iterdir() if p.name.startswith(".results.")]
    assert partial and all(".partial-" in p for p in partial)
    analyze("default", b, out)  # the next analysis replaces the folder and clears the killed one's
    after = _files(out)
    assert after["runs.csv"] != before["runs.csv"] and after["REPORT.md"] != before["REPORT.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "kill.py", "results"]


def test_a_file_the_new_analysis_does_not_write_is_not_left_behind(tmp_path):
    out = tmp_path / "results"
    analyze("default", make_sweep(tmp_path / "a", seeds=3), out)
    (out / "stale_table.csv").write_text("from an older analysis\n")
    analyze("default", tmp_path / "a", out)
    assert not (out / "stale_table.csv").exists()


def test_a_folder_that_is_not_a_results_folder_is_never_replaced(tmp_path):
    sweep = make_sweep(tmp_path / "a", seeds=3)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("mine")
    with pytest.raises(AnalysisError, match="no COMMAND.txt, so it is not a results folder"):
        analyze("default", sweep, home)
    assert [p.name for p in home.iterdir()] == ["thesis.tex"]


def test_an_unwritable_results_folder_is_one_line(tmp_path):
    """v1 printed a 17-line traceback. (The tests run as root, where a read-only mode does not stop a
    write; a results folder below a plain file fails the same way, with an OSError.)"""
    sweep = make_sweep(tmp_path / "a", seeds=3)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(AnalysisError, match=r"cannot write results into .*plain/out: .*plain is a file"):
        analyze("default", sweep, tmp_path / "plain" / "out")
    r = cli("experiments/analyze.py", str(sweep), str(tmp_path / "plain" / "out"), cwd=ROOT)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
    r = cli("experiments/analyze.py", str(sweep), str(tmp_path / "plain"), cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().endswith("plain is a file, not a results folder"), r.stderr


def test_a_read_only_results_folder_is_left_alone(tmp_path, monkeypatch):
    """Its parent may be writable, so the folder could be renamed away: it must not be. (``os.access``
    answers as a non-root user would; root passes every permission check.)"""
    import os

    from replication.analysis import output

    sweep = make_sweep(tmp_path / "a", seeds=3)
    out = tmp_path / "results"
    analyze("default", sweep, out)
    before = _files(out)
    real = os.access
    monkeypatch.setattr(output.os, "access", lambda p, mode: False if Path(p) == out else real(p, mode))
    with pytest.raises(AnalysisError, match="results: the folder is read-only"):
        analyze("default", make_sweep(tmp_path / "b", seeds=4, effect={"noisy": 0.05}), out)
    assert _files(out) == before


# --- item 10: a shrunk study run does not overwrite the committed results -----------------------------


def fake_run(monkeypatch, tmp_path, name: str, args: list[str], environ: dict | None = None) -> dict:
    """``python -m replication.studies run NAME ARGS`` with training and analysis replaced by records of
    what they were asked to do: ``{"train": [argv...], "sweep": path, "out": path}``."""
    from replication.studies import __main__ as cli_main
    from replication.studies import runner

    seen: dict = {"train": []}
    monkeypatch.setattr(runner.subprocess, "run",
                        lambda cmd, cwd=None: seen["train"].append(cmd) or subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(runner, "analyze", lambda study, sweep, out, **kw: seen.update(sweep=Path(sweep), out=Path(out))
                        or {"runs": 0, "skipped": 0, "verdicts": []})
    for k in ("ARGS", "RESULTS"):
        monkeypatch.delenv(k, raising=False)
    for k, v in (environ or {}).items():
        monkeypatch.setenv(k, v)
    assert cli_main.main(["run", name, "--root", str(tmp_path), *args]) == 0
    return seen


def test_a_shrunk_study_run_writes_beside_the_committed_results(monkeypatch, tmp_path):
    """`make reproduce PROFILE=noise ARGS="seed=0,1 trainer.epochs=2"` rewrote results/noise_scale/."""
    seen = fake_run(monkeypatch, tmp_path, "noise", [], {"ARGS": "seed=0,1 trainer.epochs=2"})
    assert seen["out"].parent == tmp_path / "results" and seen["out"].name.startswith("noise-")
    assert seen["sweep"].parent == tmp_path / "sweeps" and seen["sweep"].name.startswith("default-")
    assert all(f"sweep_name={seen['sweep'].name}" in cmd for cmd in seen["train"])
    # the same overrides, the same folder; other overrides, another one
    assert fake_run(monkeypatch, tmp_path, "noise", ["seed=0,1", "trainer.epochs=2"])["out"] == seen["out"]
    assert fake_run(monkeypatch, tmp_path, "noise", ["seed=0,1"])["out"] not in (seen["out"], tmp_path / "results" / "noise")


def test_overrides_that_leave_the_numbers_alone_keep_the_study_s_folders(monkeypatch, tmp_path):
    for args in ([], ["logger=none", "hydra.launcher.n_jobs=1", "trainer.threads=2", "hydra/launcher=basic"]):
        seen = fake_run(monkeypatch, tmp_path, "noise", args)
        assert (seen["sweep"], seen["out"]) == (tmp_path / "sweeps" / "default", tmp_path / "results" / "noise"), args


def test_results_names_the_folder_to_write_over(monkeypatch, tmp_path):
    target = tmp_path / "results" / "noise"
    assert fake_run(monkeypatch, tmp_path, "noise", ["trainer.epochs=2", "--results", str(target)])["out"] == target
    assert fake_run(monkeypatch, tmp_path, "noise", [], {"ARGS": "trainer.epochs=2", "RESULTS": str(target)})["out"] == target
    seen = fake_run(monkeypatch, tmp_path, "noise", ["--results", str(tmp_path / "mine")])
    assert seen["out"] == tmp_path / "mine" and all("--results" not in " ".join(c) for c in seen["train"])


def test_plan_says_where_a_shrunk_run_goes(tmp_path):
    r = cli("-m", "replication.studies", "plan", "noise", "trainer.epochs=2", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    last = [x for x in r.stdout.splitlines() if "then analyse" in x][0]
    assert "-> results/noise-" in last and "sweeps/default-" in last and "RESULTS=results/noise" in r.stdout
