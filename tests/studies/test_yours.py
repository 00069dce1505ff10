"""The yours study end to end: a generated .npz through `python -m replication.studies run yours`,
as `make reproduce PROFILE=yours DATA=... TASK=...` calls it, into a temporary root."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from replication.studies import get
from replication.studies.runner import variant
from replication.studies.yours.analysis import seeds_needed


def _forecast_file(path, sequences=40, length=25, seed=0):
    """Noisy sinusoids with a random phase per sequence: a known, learnable forecasting task."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = np.concatenate([np.sin(0.4 * t + rng.uniform(0, 6.3)) + 0.1 * rng.standard_normal(length)
                             for _ in range(sequences)])
    np.savez(path, values=values.astype(np.float32), lengths=np.full(sequences, length))
    return path


@pytest.mark.slow
def test_yours_runs_end_to_end_on_a_generated_file(tmp_path):
    data = _forecast_file(tmp_path / "waves.npz")
    cmd = [sys.executable, "-m", "replication.studies", "run", "yours", "--jobs", "2", "--root", str(tmp_path),
           f"DATA={data}", "TASK=forecast", "SEEDS=3"]
    env_args = "logger=none trainer.epochs=3 model.hidden_size=8"
    p = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ, "ARGS": env_args})
    assert p.returncode == 0, p.stderr[-2000:]
    # a shrunk run (ARGS change the study's runs) writes beside the study's folders, never over them
    v = variant(env_args.split())
    assert v and f"results/yours-{v}/" in p.stdout
    out = tmp_path / "results" / f"yours-{v}" / "waves"
    runs = pd.read_csv(out / "runs.csv")
    # 4 strategies x 3 paired seeds, on the file's data under the custom loader's name
    assert len(runs) == 12 and set(runs["label"]) == {"zero", "noisy", "learned", "learned_noisy"}
    assert sorted(runs["seed"].unique()) == [0, 1, 2] and set(runs["dataset"]) == {"custom"}
    # 40 sequences split 80/10/10 by the custom loader: 32 train sequences of 25 steps
    assert set(runs["train_sequences"]) == {32} and set(runs["train_steps"]) == {32 * 25}
    report = (out / "REPORT.md").read_text()
    for text in ("## Your data", "waves.npz", "Seeds needed to detect δ", "## Should I learn", "study `yours`"):
        assert text in report, text
    need = pd.read_csv(out / "seeds_needed.csv")
    assert set(need["endpoint"]) == {"C1-generalize", "C1-faster"} and (need["paired_seeds"] == 3).all()
    assert "make reproduce PROFILE=yours" in (out / "COMMAND.txt").read_text()
    assert (tmp_path / "sweeps" / f"yours-{v}" / "waves").is_dir()


def test_yours_refuses_a_missing_file_or_task_in_one_line(tmp_path):
    for extra, says in ((["TASK=forecast"], "needs DATA"), ([f"DATA={tmp_path}/nope.npz", "TASK=lm"], "no such file")):
        p = subprocess.run([sys.executable, "-m", "replication.studies", "plan", "yours", *extra],
                           capture_output=True, text=True)
        assert p.returncode == 2 and says in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_results_and_sweep_are_named_after_the_file():
    s = get("yours")
    assert str(s.results_dir(values={"DATA": "/x/my_data.npz"})) == "results/yours/my_data"


def test_seeds_needed_is_the_smallest_n_whose_power_reaches_80_percent():
    # Independent reference: the power of the two-sided paired t-test from the noncentral t directly.
    from scipy.stats import nct, t

    def power(n, d=0.5, alpha=0.05 / 3):
        c = t.ppf(1 - alpha / 2, n - 1)
        return nct.sf(c, n - 1, d * np.sqrt(n)) + nct.cdf(-c, n - 1, d * np.sqrt(n))

    n = seeds_needed(2.0)  # paired SD 2% of zero, δ = 1%: d = 0.5
    assert power(n) >= 0.8 > power(n - 1)
    assert np.isnan(seeds_needed(0.0))


def test_seeds_needed_is_two_when_two_already_suffice():
    """A paired SD far below δ: two seeds have the power (the solver, asked for n < 2, failed to
    converge with a warning and gave NaN)."""
    from scipy.stats import nct, t

    c = t.ppf(1 - 0.05 / 3 / 2, 1)
    assert nct.sf(c, 1, 100 * np.sqrt(2)) >= 0.8  # d = 1% / 0.01% = 100 at n = 2
    assert seeds_needed(0.01) == 2
