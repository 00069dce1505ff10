"""One process trains a run at a time: a second one waits, then skips it; a killed holder leaves
no stale lock (issue 21, item 5)."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from replication.run import train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
OVER = ["logger=none", "trainer.epochs=1", "trainer.progress=false", "model.hidden_size=8",
        "data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8"]

# A second process that trains the same run, holding at its first epoch until `go` exists.
HOLDER = """
import sys, time
from pathlib import Path
from hydra import compose, initialize_config_dir
from replication import run
root, go = sys.argv[1], Path(sys.argv[2])
real = run.fit_epoch
def held(*a, **k):
    print("training", flush=True)
    while not go.exists():
        time.sleep(0.05)
    return real(*a, **k)
run.fit_epoch = held
with initialize_config_dir(version_base="1.3", config_dir=sys.argv[3]):
    cfg = compose("train", overrides=[f"paths.sweeps_root={root}", *sys.argv[4:]])
run.train(cfg, log=lambda *_: None)
"""


def _cfg(tmp_path):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=[f"paths.sweeps_root={tmp_path}/sweeps", *OVER])


def _holder(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, "-c", HOLDER, f"{tmp_path}/sweeps", str(tmp_path / "go"), str(CONF), *OVER],
                         stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "training"  # it holds the run's lock now
    return p


def _until(cond, timeout=30):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)
    return cond()


def test_a_run_another_process_trains_is_waited_for_then_skipped(tmp_path):
    holder = _holder(tmp_path)
    lines, result = [], {}
    t = threading.Thread(target=lambda: result.update(s=train(_cfg(tmp_path), log=lines.append)), daemon=True)
    t.start()
    try:
        assert _until(lambda: lines), "the second trainer neither waited nor logged"
        d = tmp_path / "sweeps" / "dev" / "synthetic_short" / "zero" / "seed=0"
        assert lines == [f"[wait] {d}: another process is training this run; waiting for it"]
    finally:
        (tmp_path / "go").touch()
        holder.wait(60)
    t.join(60)
    assert holder.returncode == 0 and lines[1:] == [f"[skip] {d} already finished (finished)"]
    assert result["s"]["status"] == "finished"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = _holder(tmp_path)
    holder.kill()  # SIGKILL: nothing of the holder runs any more
    holder.wait(30)
    lines = []
    t = threading.Thread(target=lambda: train(_cfg(tmp_path), log=lines.append), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive() and [x.split()[0] for x in lines] == ["[done]"]
