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


# A tiny adaptive run computed by the harness BEFORE run.train was split into steps (commit f4bb7ab):
# the refactor, and any later one, must give these numbers and these metric names in this order.
PINNED_ROWS = [
    {"epoch": 0, "train_loss": 1.035689902305603, "train_loss_clean": 1.0078705549240112,
     "val_loss": 1.1103254556655884, "gap": 0.10245490074157715, "state/h0_norm": 0.01477852649986744,
     "state/c0_norm": 0.015627020969986916, "state/h0_noise_scale": 0.2997961938381195,
     "state/c0_noise_scale": 0.30032336711883545, "state/h0_error_ema": 0.002560457680374384,
     "state/c0_error_ema": 0.005229033529758453, "val_early": 1.3001829719170928,
     "test_loss": 1.0135893821716309, "test_early": 1.0902762176236138},
    {"epoch": 1, "train_loss": 1.0194016695022583, "train_loss_clean": 0.9934630393981934,
     "val_loss": 1.0959101915359497, "gap": 0.10244715213775635, "state/h0_norm": 0.025089245289564133,
     "state/c0_norm": 0.02461259998381138, "state/h0_noise_scale": 0.30008530616760254,
     "state/c0_noise_scale": 0.3005172908306122, "state/h0_error_ema": 0.002562927082180977,
     "state/c0_error_ema": 0.0052324095740914345, "val_early": 1.2825420882552863,
     "test_loss": 0.9999110102653503, "test_early": 1.0799827438779175},
]
PINNED_SUMMARY = {
    "best_epoch": 1, "best_val_loss": 1.0959101915359497, "config_hash": "f40e000d7acbb5d2",
    "data": "synthetic_short", "diverged": False, "early_k": 5, "epochs_max": 2, "epochs_run": 2,
    "final_train_loss": 1.0194016695022583, "final_train_loss_clean": 0.9934630393981934,
    "gap_at_best": 0.10244715213775635, "label": "adaptive", "noise_std": 0.3,
    "position_profile": [0.9411102253943682, 1.1242546830326319, 1.1506484560668468, 1.644454188644886,
                         1.5522428881376982, 0.8341301954351366],
    "regime": "windows", "seed": 0,
    "sizes": {"test": {"sequences": 8, "steps": 200}, "train": {"sequences": 40, "steps": 1000},
              "val": {"sequences": 8, "steps": 200}},
    "state_rms": {"c": 0.3428700744153994, "h": 0.16699411594314134}, "status": "finished",
    "strategy": "adaptive", "task": "forecast", "test_at_best": 0.9999110102653503,
    "test_early_at_best": 1.0799827438779175, "train_at_best": 1.0194016695022583,
    "train_clean_at_best": 0.9934630393981934, "val_early_at_best": 1.2825420882552863,
}


def test_a_tiny_run_gives_the_numbers_of_the_harness_before_the_refactor(tmp_path):
    s = train(cfg_of(tmp_path, "init_state=adaptive", "trainer.epochs=2", "trainer.max_position=6",
                     "model.embedding_dim=4"), **quiet)
    d = run_dir(tmp_path, label="adaptive")
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [[k for k in r if k != "wall_time"] for r in rows] == [list(r) for r in PINNED_ROWS]
    assert [{k: v for k, v in r.items() if k != "wall_time"} for r in rows] == [
        pytest.approx(r, rel=1e-6) for r in PINNED_ROWS]
    written = json.loads((d / "summary.json").read_text())
    assert written == s  # what train() returns is what it wrote
    # protocol v3 added the test profile and the per-position counts (checked against a torch twin
    # in test_training_pinned); every key of the refactor's pin keeps its value
    assert sorted(written) == sorted([*PINNED_SUMMARY, "wall_time", "test_position_profile", "position_counts"])
    for key, want in PINNED_SUMMARY.items():
        close = isinstance(want, float) or key in ("position_profile", "state_rms")
        assert written[key] == (pytest.approx(want, rel=1e-6) if close else want), key


def test_the_checkpoint_holds_the_fields_older_checkpoints_have(tmp_path, monkeypatch):
    """A killed run of the previous harness must resume: the file keeps the same keys."""
    from replication import records

    saved = []
    monkeypatch.setattr(records, "atomic_torch_save", lambda path, obj: saved.append(obj))
    train(cfg_of(tmp_path, "trainer.epochs=2", "trainer.checkpoint_every_s=0"), **quiet)
    assert [sorted(o) for o in saved] == [sorted(["config_hash", "epoch", "model", "optimizer", "rng", "history",
                                                  "best", "bad_epochs", "elapsed"])] * 2
    assert [o["epoch"] for o in saved] == [0, 1] and len(saved[1]["history"]) == 2


@pytest.mark.parametrize("data", ["japanese_vowels", "synthetic_short"])
def test_summary_json_has_the_declared_shape(tmp_path, data):
    from replication.records import BestEpoch, Summary, check_summary

    over = [] if data == "synthetic_short" else ["data=japanese_vowels"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[f"paths.sweeps_root={tmp_path}/sweeps", "trainer.epochs=1",
                                          *(TINY if data == "synthetic_short" else TINY[:3]), *over])
    train(cfg, **quiet)
    s = json.loads(next((tmp_path / "sweeps").rglob("summary.json")).read_text())
    required, optional = Summary.__required_keys__, BestEpoch.__optional_keys__
    assert required <= set(s) <= required | optional
    classify = s["task"] == "classify"
    assert ("val_acc_at_best" in s) == classify and (s["val_early_at_best"] is None) == classify
    check_summary(s)  # every value has its declared JSON type


def test_a_diverged_first_epoch_leaves_out_every_best_entry(tmp_path):
    from replication.records import Summary

    s = train(cfg_of(tmp_path, "trainer.optimizer=sgd", "trainer.lr=1e12", "trainer.grad_clip=0", "model=rnn"), **quiet)
    assert s["status"] == "diverged" and set(s) == Summary.__required_keys__


def test_collect_reads_only_declared_keys_and_names_a_mistyped_one(tmp_path, capsys):
    import importlib

    from replication.records import SUMMARY_TYPES

    collect_mod = importlib.import_module("replication.analysis.collect")  # the package exports collect()

    assert set(collect_mod._COPIED) <= set(SUMMARY_TYPES)  # collect guesses no name the writer does not write
    train(cfg_of(tmp_path, "trainer.epochs=1"), **quiet)
    path = run_dir(tmp_path) / "summary.json"
    s = json.loads(path.read_text())
    path.write_text(json.dumps({**s, "best_val_loss": "1.2"}))
    runs, _, _ = collect_mod.collect(tmp_path / "sweeps")
    assert runs.empty
    assert capsys.readouterr().err.strip() == f"skipping {path}: 'best_val_loss' is \"1.2\", not float"


def _rows(d):
    return [{k: v for k, v in json.loads(x).items() if k != "wall_time"} for x in (d / "metrics.jsonl").read_text().splitlines()]


def test_a_corrupted_checkpoint_is_replaced_by_a_fresh_run(tmp_path):
    """A checkpoint cut short (a full disk, a copy gone wrong) is not resumed from: the run starts
    afresh, says so in one line, and gives an uninterrupted run's numbers."""
    train(cfg_of(tmp_path / "a", "trainer.epochs=2"), **quiet)
    d = run_dir(tmp_path / "b")
    d.mkdir(parents=True)
    good = run_dir(tmp_path / "a")
    (d / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    (d / "metrics.jsonl").write_text('{"epoch": 0, "train_loss": 9.9}\n')  # the broken run's epoch
    lines = []
    train(cfg_of(tmp_path / "b", "trainer.epochs=2"), log=lines.append)
    assert lines[0] == f"[replace] {d}: an unreadable checkpoint is replaced by this run"
    assert lines[1].startswith("[done]") and len(lines) == 2
    assert _rows(d) == _rows(good)


def test_resume_restores_the_early_stopping_count(tmp_path, monkeypatch):
    """Killed after two epochs without a better val loss, the run stops where an uninterrupted one
    does (patience 3: after epoch 3), not 3 epochs after the resume."""
    real = trainer_mod.run_epoch

    def run(root, kill_at=None):
        worse, calls = iter(range(1, 100)), {"n": 0}

        def flat_val(model, data, split, *a, **kw):
            if split == "train":
                calls["n"] += 1
                if calls["n"] == kill_at:
                    raise KeyboardInterrupt
            out = real(model, data, split, *a, **kw)
            if split == "val":  # validation gets worse after epoch 0: a flat curve
                out.loss_sum = float(next(worse)) * max(out.count, 1)
            return out

        monkeypatch.setattr(trainer_mod, "run_epoch", flat_val)
        return train(cfg_of(root, "trainer.epochs=20", "trainer.early_stopping=3", "trainer.checkpoint_every_s=0"),
                     **quiet)

    whole = run(tmp_path / "a")
    assert (whole["status"], whole["epochs_run"]) == ("early_stopped", 4)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", kill_at=3)  # epochs 0 and 1 done: one epoch without improvement so far
    resumed = run(tmp_path / "b")
    assert (resumed["status"], resumed["epochs_run"], resumed["best_epoch"]) == ("early_stopped", 4, 0)


def test_a_resumed_wandb_run_leaves_one_offline_run_with_every_epoch(tmp_path, monkeypatch):
    """A killed run's offline wandb run would be a second one for `wandb sync` (issue 21, item 11)."""
    from replication import tracking

    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_env"))
    logged = []
    real_log = tracking.WandbTracker.log
    monkeypatch.setattr(tracking.WandbTracker, "log", lambda self, m, step=None: (logged.append(step), real_log(self, m, step)))
    real = trainer_mod.run_epoch
    calls = {"n": 0}

    def dying(model, data, split, *a, **kw):
        if split == "train":
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real(model, data, split, *a, **kw)

    over = ("logger=wandb", "trainer.epochs=3", "trainer.checkpoint_every_s=0")
    monkeypatch.setattr(trainer_mod, "run_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(cfg_of(tmp_path, *over), **quiet)
    monkeypatch.setattr(trainer_mod, "run_epoch", real)
    logged.clear()
    lines = []
    train(cfg_of(tmp_path, *over), log=lines.append)
    assert lines[0].startswith("[resume]")
    assert len(list((run_dir(tmp_path) / "wandb").glob("offline-run-*"))) == 1
    assert logged == [0, 1, 2]  # the resumed run's wandb run holds the epochs before the kill too
