"""A sweep that cannot go on stops with one line, not a traceback: a full disk, a killed joblib
worker, SIGINT (issue 21, items 4 and 6)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "experiments" / "train.py"
TINY = ["logger=none", "trainer.epochs=3", "trainer.checkpoint_every_s=0", "trainer.progress=false",
        "model.hidden_size=8", "data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8"]
SWEEP = ["-m", "init_state=zero,learned,noisy", "seed=0,1"]


def cli(root, *args, **kw):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(TRAIN), *args, *TINY, f"paths.sweeps_root={root}/sweeps"],
                          cwd=root, capture_output=True, text=True, timeout=240, env=env, **kw)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped elsewhere) with a filler file that leaves ~60 kB free."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 60 * 1024))
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)])


@pytest.mark.parametrize("launcher", ["basic", pytest.param("joblib", marks=pytest.mark.slow)])
def test_a_full_disk_stops_the_sweep_with_one_line_and_the_rerun_resumes(small_disk, launcher):
    extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    p = cli(small_disk, *SWEEP, *extra)
    assert p.returncode == 1
    err = [x for x in p.stderr.splitlines() if not x.startswith("[20")]  # Hydra's own INFO lines aside
    assert 1 <= len(err) <= 2, p.stderr[-3000:]  # one per failed job: joblib may have two in flight
    assert all(x.startswith(f"error: no space left on device: {small_disk}/sweeps/") for x in err), err
    assert all(x.endswith("free space, then rerun to resume (finished runs are kept, killed ones resume)") for x in err)
    (small_disk / "filler").unlink()
    again = cli(small_disk, *SWEEP, *extra)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(list((small_disk / "sweeps").rglob("summary.json"))) == 6


def _sweeper_raising(monkeypatch, exc):
    import importlib

    # The current classes: Hydra's plugin scan (a Hydra run earlier in the session) re-imports them.
    cls = importlib.import_module("hydra_plugins.prechecked_sweeper.prechecked_sweeper").PrecheckedSweeper
    base = cls.__mro__[1]

    def boom(self, arguments):
        raise exc

    monkeypatch.setattr(base, "sweep", boom)
    sweeper = cls.__new__(cls)  # sweep() needs no state here; __init__ would meet the re-imported base
    return sweeper


def test_hydras_own_write_failing_is_one_line(monkeypatch, capsys):
    """Hydra writes each job's .hydra/ files itself (outside the job): its OSError is one line too."""
    sweeper = _sweeper_raising(monkeypatch, OSError(28, "No space left on device", "/s/x/.hydra/config.yaml"))
    with pytest.raises(SystemExit) as e:
        sweeper.sweep([])
    assert e.value.code == 1
    assert capsys.readouterr().err == ("error: no space left on device: /s/x/.hydra/config.yaml; free space, then "
                                       "rerun to resume (finished runs are kept, killed ones resume)\n")


def test_a_bug_in_a_job_still_raises(monkeypatch):
    with pytest.raises(ZeroDivisionError):
        _sweeper_raising(monkeypatch, ZeroDivisionError()).sweep([])


def test_a_write_error_names_the_file(tmp_path, monkeypatch):
    from replication import io

    def full(fd):
        raise OSError(28, "No space left on device")  # as write() or fsync() on a full disk: no file name

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as e:
        io.atomic_write_text(tmp_path / "summary.json", "x" * 100_000)
    assert e.value.errno == 28 and e.value.filename == str(tmp_path / "summary.json")
    assert [p.name for p in tmp_path.iterdir()] == []  # the temporary file is gone too


def _wait(cond, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def _start(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    over = [x for x in TINY if not x.startswith("trainer.epochs")] + ["trainer.epochs=100000"]
    return subprocess.Popen([sys.executable, str(TRAIN), *args, *over, f"paths.sweeps_root={tmp_path}/sweeps"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_sigint_is_one_line(tmp_path):
    p = _start(tmp_path)
    try:
        assert _wait(lambda: list((tmp_path / "sweeps").rglob("metrics.jsonl")))
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130
    assert err.strip().splitlines() == ["interrupted; rerun to resume (finished runs are kept, killed ones resume)"]


@pytest.mark.slow
def test_a_killed_joblib_worker_is_one_line(tmp_path):
    import psutil

    p = _start(tmp_path, "-m", "init_state=zero,learned", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    try:
        assert _wait(lambda: len(list((tmp_path / "sweeps").rglob("metrics.jsonl"))) == 2)
        workers = [c for c in psutil.Process(p.pid).children(recursive=True) if "python" in c.name().lower()]
        workers[-1].kill()
        _, err = p.communicate(timeout=60)
    finally:
        for c in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else []:
            c.kill()
        p.kill()
    lines = [x for x in err.splitlines() if not x.startswith("[20")]
    assert p.returncode == 1 and lines == [
        "error: a sweep worker died (killed from outside?); rerun to resume (finished runs are kept, killed ones resume)"]
