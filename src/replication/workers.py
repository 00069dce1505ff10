"""Sweep workers die with the sweep, and a sweep that cannot go on stops with one line.

joblib's loky workers outlive a parent killed with SIGKILL (nothing runs in the parent to stop
them), and keep training into the sweep directory. The entry point records its pid in
``INITSTATE_SWEEP_PID``; a job running in another process (a worker) watches that pid and exits
as soon as it is gone. Checkpoints and results are written atomically, so dying mid-epoch
loses at most that epoch, and a rerun resumes. A job in the entry point's own process (the basic
launcher), or a run started by hand, never exits this way.

A job that hits an environment error (a full disk, a read-only folder) prints one line
(:func:`os_error_line`) and raises :class:`SweepStop`, which Hydra's job runner does not catch
(it is not an ``Exception``), so the sweeper (``hydra/sweeper=prechecked``) stops the whole sweep
cleanly instead of failing every later job with a traceback.
"""

from __future__ import annotations

import os
import threading
import time

_started = False
RERUN = "rerun to resume (finished runs are kept, killed ones resume)"


class SweepStop(BaseException):
    """Stop the sweep; its one-line reason was already printed. ``args[0]``: the exit status."""


def os_error_line(e: OSError) -> str:
    """``"no space left on device: /sweeps/x/metrics.jsonl; free space, then rerun to resume ..."``."""
    what = (e.strerror or str(e)).lower()
    where = f": {e.filename}" if e.filename else ""
    fix = "free space, then " if e.errno == 28 else ""  # ENOSPC
    return f"{what}{where}; {fix}{RERUN}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_with_sweep(poll_seconds: float = 1.0) -> bool:
    """Start the watchdog in a worker process; returns whether it was started."""
    global _started
    pid = os.environ.get("INITSTATE_SWEEP_PID")
    if _started or not pid or int(pid) == os.getpid():
        return False
    sweep_pid, parent = int(pid), os.getppid()

    def watch() -> None:
        # Reparenting (the parent died) or the sweep's pid vanishing both mean: stop now.
        while os.getppid() == parent and _alive(sweep_pid):
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-sweep", daemon=True).start()
    _started = True
    return True
