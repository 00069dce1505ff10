"""A run directory's records: one config per directory, data in the run's identity, no empty
splits, Hydra's output directories, read-only sweeps (issue 8, defects 1-4 and 7)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from replication import config as config_mod
from replication import trainer as trainer_mod
from replication.run import ConfigError, train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TRAIN = ROOT / "experiments" / "train.py"
TINY = ["logger=none", "trainer.progress=false", "model.hidden_size=8", "data.num_sequences=40",
        "data.val_sequences=8", "data.test_sequences=8"]
quiet = dict(log=lambda *_: None)


def cfg_of(tmp_path, *overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=[f"paths.sweeps_root={tmp_path}/sweeps", *TINY, *overrides])


def run_dir(tmp_path, data="synthetic_short", label="zero", seed=0):
    return tmp_path / "sweeps" / "dev" / data / label / f"seed={seed}"


def test_killed_rerun_with_another_config_leaves_no_stale_summary(tmp_path, monkeypatch):
    """Defect 1: A finishes; B (other config, same directory) is killed; A must not be skipped."""
    a = cfg_of(tmp_path, "trainer.epochs=2")
    train(a, **quiet)
    real = trainer_mod.run_epoch
    calls = {"n": 0}

    def dying(model, data, split, *args, **kw):
        if split == "train":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return real(model, data, split, *args, **kw)

    monkeypatch.setattr(trainer_mod, "run_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(cfg_of(tmp_path, "trainer.epochs=3", "trainer.lr=0.01"), **quiet)
    monkeypatch.setattr(trainer_mod, "run_epoch", real)
    d = run_dir(tmp_path)
    assert not (d / "summary.json").exists()  # never A's summary beside B's config and metrics
    assert "lr: 0.01" in (d / "config.yaml").read_text()
    lines = []
    s = train(a, log=lines.append)
    assert not lines[0].startswith("[skip]") and s["epochs_run"] == 2
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2  # A's own curve, none of B's epochs
    key = (d / "config.yaml").read_text().splitlines()[0]
    assert key == f"# config_hash: {s['config_hash']}"


def test_rewritten_data_file_is_a_new_run(tmp_path):
    """Defect 2: the same config over different file contents must not be skipped."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, values=rng.normal(size=(600, 2)), lengths=[20] * 30)
    over = [f"data.path={path}", "data.task=forecast", "trainer.epochs=1"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=["data=custom", f"paths.sweeps_root={tmp_path}/sweeps", "logger=none",
                                          "trainer.progress=false", "model.hidden_size=8", *over])
    first = train(cfg, **quiet)
    lines = []
    train(cfg, log=lines.append)
    assert lines[0].startswith("[skip]")
    np.savez(path, values=rng.normal(size=(600, 2)) * 5, lengths=[20] * 30)
    lines.clear()
    second = train(cfg, log=lines.append)
    assert lines[-1].startswith("[done]") and second["config_hash"] != first["config_hash"]


def test_empty_validation_split_is_an_error_not_loss_zero(tmp_path):
    """Defect 3: the issue's file fails with one line before training, nothing written."""
    path = tmp_path / "ev.npz"
    np.savez(path, values=np.random.default_rng(0).normal(size=(800, 2)), lengths=[40] * 20,
             split=["train"] * 17 + ["test"] * 3)
    p = subprocess.run([sys.executable, str(TRAIN), "data=custom", f"data.path={path}", "data.task=forecast",
                        "logger=none", f"paths.sweeps_root={tmp_path}/sweeps"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("error: custom data file") and "val" in err[0], p.stderr
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("metrics.jsonl"))


def test_empty_split_of_any_dataset_is_caught_by_the_harness(tmp_path):
    cfg = cfg_of(tmp_path, "data.test_sequences=0")
    with pytest.raises(ConfigError, match="the test split is empty"):
        train(cfg, **quiet)


@pytest.mark.parametrize("mode", ["run", "sweep", "chdir"])
def test_records_live_in_hydra_output_dir(tmp_path, mode):
    """Defect 4: hydra.run.dir / hydra.sweep.dir hold summary, metrics, config and wandb."""
    args = [*TINY, "trainer.epochs=1", "logger=wandb", f"paths.sweeps_root={tmp_path}/default"]
    if mode == "sweep":
        args = ["-m", "init_state=zero,learned", f"hydra.sweep.dir={tmp_path}/mine", *args]
    else:
        args = [f"hydra.run.dir={tmp_path}/mine/one", *args] + (["hydra.job.chdir=true"] if mode == "chdir" else [])
    p = subprocess.run([sys.executable, str(TRAIN), *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=240, env={**os.environ, "WANDB_SILENT": "true"})
    assert p.returncode == 0, p.stderr[-2000:]
    summaries = sorted((tmp_path / "mine").rglob("summary.json"))
    assert len(summaries) == (2 if mode == "sweep" else 1)
    for s in summaries:
        d = s.parent
        assert (d / "metrics.jsonl").exists() and (d / "config.yaml").exists() and (d / ".hydra").is_dir()
        assert list((d / "wandb").glob("offline-run-*"))
    assert not (tmp_path / "default").exists()  # nothing left in the default layout
    from replication.analysis import collect

    runs, _, _ = collect(tmp_path / "mine")
    assert len(runs) == len(summaries)


def test_read_only_sweep_skips_without_writing(tmp_path, monkeypatch, capsys):
    """Defect 7: every run finished + an unwritable sweep dir: skip lines, exit 0, no Hydra."""
    args = ["-m", "init_state=zero,learned", *TINY, "trainer.epochs=1", f"paths.sweeps_root={tmp_path}/sweeps"]
    sweep = tmp_path / "sweeps" / "dev"
    unwritable = lambda p: not str(Path(p).absolute()).startswith(str(sweep))  # noqa: E731
    # Root ignores permission bits, so "read-only" is simulated at the one place that asks.
    monkeypatch.setattr(config_mod, "_writable", unwritable)
    assert config_mod.precheck(args, CONF) == 2  # nothing finished yet: one line naming the path
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(sweep) in err[0] and "not writable" in err[0]
    for init in ("zero", "learned"):
        train(cfg_of(tmp_path, f"init_state={init}", "trainer.epochs=1"), **quiet)
    before = sorted(p for p in sweep.rglob("*"))
    lines = []
    assert config_mod.precheck(args, CONF, out=lines.append) == 0
    assert len(lines) == 2 and all(x.startswith("[skip]") for x in lines)
    assert sorted(p for p in sweep.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permission bits")
def test_read_only_sweep_real_permissions(tmp_path):
    args = [*TINY, "trainer.epochs=1", f"paths.sweeps_root={tmp_path}/sweeps"]
    assert subprocess.run([sys.executable, str(TRAIN), *args], cwd=tmp_path, timeout=120).returncode == 0
    for p in (tmp_path / "sweeps").rglob("*"):
        p.chmod(0o555 if p.is_dir() else 0o444)
    (tmp_path / "sweeps").chmod(0o555)
    p = subprocess.run([sys.executable, str(TRAIN), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "[skip]" in p.stdout and "Traceback" not in p.stderr
