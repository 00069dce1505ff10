"""r2rt's own regime (issue 10): both profiles compose and validate, the perplexity side by side and
the reproduction statement on hand-built numbers, the report section from a hand-written sweep,
and the GPU benchmark's CPU rehearsal mode."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from scipy import stats

from replication.config import precheck
from replication.schema import validate
from replication.studies.claims.protocol import BLOG_STRATEGIES
from replication.studies.r2rt import tables as R
from replication.studies.runner import analyze

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
WORDS = "shakespeare_words_windows"


def _compose(experiment: str, hydra: bool = False):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=[f"experiment={experiment}"], return_hydra_config=hydra)


@pytest.mark.parametrize("experiment", ["r2rt", "r2rt_cpu"])
def test_profiles_compose_and_validate(experiment):
    cfg = _compose(experiment)
    validate(cfg)
    assert precheck([f"experiment={experiment}"], CONF) is None
    assert cfg.sweep_name == experiment
    assert cfg.data._target_.endswith("shakespeare_words.load") and cfg.data.regime == "windows"
    assert cfg.data.window == 50
    m, t, s = cfg.model, cfg.trainer, cfg.init_state
    assert (m.cell, m.num_layers, m.hidden_size, m.embedding_dim, m.dropout) == ("lstm", 2, 200, 200, 0.0)
    assert (t.optimizer, t.lr, t.batch_size, t.grad_clip, t.threads) == ("adam", 0.001, 30, 0.0, 1)
    assert s.noise_std == 0.3 and s.mask is None and t.max_position == 50
    h = _compose(experiment, hydra=True).hydra
    assert h.launcher._target_.endswith("JoblibLauncher")
    params = h.sweeper.params
    assert list(params) == ["seed", "init_state"]  # seeds outermost: a cut sweep keeps whole paired seeds
    assert params.seed == "range(5)"
    strategies = params.init_state.split(",")
    assert strategies[:4] == ["zero", "noisy", "learned", "learned_noisy"]
    if experiment == "r2rt":
        assert strategies[4:] == ["adaptive"] and h.launcher.n_jobs >= 8
        assert (t.device, t.epochs, t.early_stopping, cfg.data.vocab_size) == ("auto", 20, 0, 10000)
        assert cfg.scale.words_train_tokens is None and cfg.scale.words_eval_tokens is None
    else:
        assert h.launcher.n_jobs == 2 and t.device == "cpu" and t.early_stopping > 0
        assert cfg.data.vocab_size < 10000 and cfg.scale.words_train_tokens < 935_290


def _runs(ratios: dict[str, list[float]], zero=(160.0, 170.0, 150.0)) -> pd.DataFrame:
    """A runs table: zero's best val perplexity per seed, each other strategy's as a ratio of it."""
    rows = []
    for label, rs in {"zero": [1.0] * len(zero), **ratios}.items():
        for seed, (z, r) in enumerate(zip(zero, rs)):
            ppl = z * r
            rows.append({"dataset": WORDS, "task": "lm", "label": label, "strategy": label, "seed": seed,
                         "diverged": False, "best_val_loss": math.log(ppl), "test_at_best": math.log(ppl * 0.9),
                         "train_at_best": math.log(ppl * 0.6), "train_clean_at_best": math.log(ppl * 0.55),
                         "best_epoch": 10 + seed, "epochs_run": 17 + seed, "train_steps": 19992})
    return pd.DataFrame(rows)


def test_perplexity_side_by_side_by_hand():
    runs = _runs({"noisy": [1.0, 1.01, 0.99], "learned": [0.90, 0.92, 0.91], "learned_noisy": [1.05, 1.06, 1.07]})
    ppl = R.perplexity_table(runs).set_index("strategy")
    assert list(ppl.index) == ["zero", "noisy", "learned", "learned_noisy"]
    assert ppl.loc["zero", "best_val_ppl"] == pytest.approx(160.0)
    lo, hi = stats.t.interval(0.95, 2, loc=160.0, scale=stats.sem([160.0, 170.0, 150.0]))
    assert (ppl.loc["zero", "best_val_ppl_ci_low"], ppl.loc["zero", "best_val_ppl_ci_high"]) == pytest.approx((lo, hi))
    learned = np.array([160 * 0.90, 170 * 0.92, 150 * 0.91])
    assert ppl.loc["learned", "best_val_ppl"] == pytest.approx(learned.mean())
    assert ppl.loc["learned", "pct_vs_zero"] == pytest.approx(100 * (learned.mean() / 160 - 1))
    pct = np.array([-10.0, -8.0, -9.0])
    lo, hi = stats.t.interval(0.95, 2, loc=pct.mean(), scale=stats.sem(pct))
    assert ppl.loc["learned", ["pct_vs_zero_paired", "pct_ci_low", "pct_ci_high"]].tolist() == pytest.approx(
        [-9.0, lo, hi])
    assert ppl.loc["learned", ["best_epoch_mean", "best_epoch_min", "best_epoch_max"]].tolist() == [11, 10, 12]
    assert ppl.loc["learned", "train_ppl_at_best"] == pytest.approx(0.6 * learned.mean())
    assert ppl.loc["learned", "train_clean_ppl_at_best"] == pytest.approx(0.55 * learned.mean())
    assert ppl.loc["learned", "test_ppl_at_best"] == pytest.approx(0.9 * learned.mean())
    # r2rt's own numbers, the blog's −9.24% for learned, and the outcome of each comparison
    assert R.r2rt_pct("learned") == pytest.approx(100 * (147.41 / 162.42 - 1))
    rep = R.reproduction(ppl.reset_index()).set_index("strategy")["outcome"].to_dict()
    assert rep == {"noisy": "none", "learned": "reproduced", "learned_noisy": "opposite"}
    text = " ".join(R.statement(ppl.reset_index(), R.reproduction(ppl.reset_index()), runs, None))
    assert "reproduced only for learned" in text and "3 paired seeds" in text and "19,992 training tokens" in text
    wide = R.perplexity_table(_runs({s: [0.8, 1.1, 0.95] for s in BLOG_STRATEGIES})).assign(dataset=WORDS)
    assert "**undecided**" in " ".join(R.statement(wide, R.reproduction(wide), runs, None))


@pytest.mark.parametrize(("est", "lo", "hi", "expected"), [
    (-12, -14, -10, "larger"), (-5, -7, -3, "reproduced"), (-3, -4, -2, "smaller"), (0, -2, 2, "none"),
    (-3, -8, 1, "inconclusive"), (4, 1, 7, "opposite"), (-3, np.nan, np.nan, "too few seeds")])
def test_outcome_rules(est, lo, hi, expected):
    assert R.outcome(est, lo, hi, -5.0) == expected


def test_the_section_covers_every_language_model_dataset_and_nothing_else():
    runs = pd.DataFrame({"dataset": [WORDS, "shakespeare_windows", "ds"], "task": ["lm", "lm", "forecast"]})
    assert R.lm_datasets(runs) == ["shakespeare_windows", WORDS]
    assert R.lm_datasets(runs.iloc[2:]) == []


def write_word_run(root: Path, label: str, seed: int, shift: float, epochs: int = 6, best: int = 3) -> None:
    """One word-level run as the harness writes it; val loss is lowest at ``best``."""
    d = root / WORDS / label / f"seed={seed}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.yaml").write_text("model: {cell: lstm, num_layers: 2, hidden_size: 200, embedding_dim: 200}\n"
                                   "data: {vocab_size: 2000}\ntrainer: {epochs: 60}\ninit_state: {noise_std: 0.3}\n")
    rows = []
    for e in range(epochs):
        val = 5.0 + shift + 0.02 * (e - best) ** 2 + 0.01 * seed
        rows.append({"epoch": e, "train_loss": 6.0 - 0.3 * e + shift, "train_loss_clean": 5.9 - 0.3 * e + shift,
                     "val_loss": val, "test_loss": val - 0.05, "wall_time": e + 1.0})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    b = rows[best]
    profile = [5.0 + shift + ((1.0 if label == "zero" else 0.5) if t == 0 else 0.0) for t in range(50)]
    s = {"data": WORDS, "task": "lm", "regime": "windows", "strategy": label, "label": label, "seed": seed,
         "status": "early_stopped", "diverged": False, "config_hash": "h", "epochs_run": epochs, "epochs_max": 60,
         "early_k": 5, "wall_time": float(epochs), "best_epoch": best, "best_val_loss": b["val_loss"],
         "test_at_best": b["test_loss"], "train_at_best": b["train_loss"], "train_clean_at_best": b["train_loss_clean"],
         "val_early_at_best": 5.5, "test_early_at_best": 5.5, "position_profile": profile,
         "sizes": {"train": {"sequences": 392, "steps": 19992}}}
    (d / "summary.json").write_text(json.dumps(s))


def test_report_has_the_r2rt_section(tmp_path):
    shifts = {"zero": 0.0, "noisy": -0.02, "learned": -0.1, "learned_noisy": -0.09}
    for label, sh in shifts.items():
        for seed in range(3):
            write_word_run(tmp_path / "sweep", label, seed, sh + 0.003 * ((seed * 5 + len(label)) % 3))
    out = tmp_path / "out"
    analyze("r2rt_cpu", tmp_path / "sweep", out)
    report = (out / "REPORT.md").read_text()
    sec = report[report.index("## r2rt's regime"):]
    assert "**Are r2rt's effect sizes reproduced?**" in sec and "2 × 200 LSTM" in sec and "vocabulary 2000" in sec
    assert "| learned | 147.41 (11) | -9.24% | 84.75 |" in sec
    assert "Where in the 50-token window a zero start costs" in sec and "+1.00 nats at the first position" in sec
    for f in ("r2rt_perplexity_curves.png", "r2rt_position_profile.png"):
        assert (out / "figures" / f).stat().st_size > 0 and f"figures/{f}" in sec
    ppl = pd.read_csv(out / "r2rt_perplexity.csv").set_index("strategy")
    assert ppl.loc["learned", "best_epoch_mean"] == 3 and ppl.loc["zero", "first_val_ppl"] > ppl.loc["zero", "best_val_ppl"]
    assert set(pd.read_csv(out / "r2rt_positions.csv")["bucket"]) == set(R.BUCKETS)


def test_gpu_benchmark_cpu_rehearsal(tmp_path):
    # What it measures is checked, not how long it took (a busy machine is no failure: benchmarks time).
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_r2rt.py"), "--device", "cpu", "--tiny",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads((tmp_path / "gpu_r2rt.json").read_text())
    assert {"zero", "learned_noisy"} <= set(res["step"]["harness"]) and res["step"]["bare_ms"] > 0
    assert [r["jobs"] for r in res["concurrency"]] == [1, 2] and all(r["tokens_per_s"] > 0 for r in res["concurrency"])
    assert (tmp_path / "gpu_r2rt_steps.csv").exists() and (tmp_path / "gpu_r2rt_jobs.csv").exists()
    assert "harness / bare" in p.stdout


def test_gpu_benchmark_skips_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_r2rt.py"), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "no CUDA device" in p.stdout


def test_an_earlier_run_of_the_profile_is_shown_beside_this_one(tmp_path):
    import shutil

    from replication.studies.r2rt.report import earlier_run_md

    committed = ROOT / "results" / "r2rt_cpu_run1" / "r2rt_perplexity.csv"
    (tmp_path / "r2rt_cpu_run1").mkdir()
    shutil.copy(committed, tmp_path / "r2rt_cpu_run1" / "r2rt_perplexity.csv")
    ppl = pd.read_csv(committed)
    ppl["best_val_ppl"] *= 0.5
    md = earlier_run_md(tmp_path / "r2rt_cpu", ppl)
    zero = ppl[ppl["strategy"] == "zero"].iloc[0]
    assert "r2rt_cpu_run1/" in md and "min_epochs" in md
    row = next(x for x in md.splitlines() if "| zero |" in x)
    assert f"{zero.best_val_ppl * 2:.1f}" in row and f"{zero.best_val_ppl:.1f}" in row
    assert earlier_run_md(tmp_path / "other", ppl) == ""
