"""Killing a joblib sweep's parent stops its loky workers (issue 8, minor defect)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _wait(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_watchdog_exits_when_the_sweep_pid_dies(tmp_path):
    sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    code = ("from replication.workers import exit_with_sweep; import time; "
            "assert exit_with_sweep(poll_seconds=0.1); time.sleep(60)")
    worker = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "INITSTATE_SWEEP_PID": str(sweep.pid)})
    time.sleep(1.5)
    assert worker.poll() is None  # alive while the sweep is
    sweep.kill()
    sweep.wait()
    assert _wait(lambda: worker.poll() is not None, 10)


def test_no_watchdog_in_the_sweeps_own_process(monkeypatch):
    from replication import workers

    monkeypatch.setenv("INITSTATE_SWEEP_PID", str(os.getpid()))
    assert workers.exit_with_sweep() is False
    monkeypatch.delenv("INITSTATE_SWEEP_PID")
    assert workers.exit_with_sweep() is False  # a run started by hand


@pytest.mark.slow
def test_killed_joblib_sweep_leaves_no_workers(tmp_path):
    args = ["-m", "init_state=zero,learned", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "logger=none",
            "trainer.epochs=100000", "trainer.checkpoint=false", "trainer.progress=false", "model.hidden_size=8",
            "data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8",
            f"paths.sweeps_root={tmp_path}/sweeps"]
    parent = subprocess.Popen([sys.executable, str(ROOT / "experiments" / "train.py"), *args], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = psutil.Process(parent.pid)
    try:
        # Workers exist once both runs have written their first epoch.
        assert _wait(lambda: len(list((tmp_path / "sweeps").rglob("metrics.jsonl"))) == 2, 120)
        workers = [p for p in proc.children(recursive=True) if "python" in p.name().lower()]
        assert workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers), 30)
    finally:
        for p in proc.children(recursive=True) if proc.is_running() else []:
            p.kill()
        if parent.poll() is None:
            parent.kill()
