"""Two configs never share a run directory; replacing a finished run says so (issue 21, item 1)."""

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from replication import config as config_mod
from replication.run import train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TRAIN = ROOT / "experiments" / "train.py"
TINY = ["logger=none", "trainer.epochs=1", "trainer.progress=false", "model.hidden_size=8",
        "data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8"]


def cli(tmp_path, *args):
    return subprocess.run([sys.executable, str(TRAIN), *args, *TINY, f"paths.sweeps_root={tmp_path}/sweeps"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)


def test_a_sweep_over_a_key_outside_the_path_keeps_every_run(tmp_path):
    p = cli(tmp_path, "-m", "trainer.lr=0.001,0.01")
    assert p.returncode == 0, p.stderr[-2000:]
    dev = tmp_path / "sweeps" / "dev"
    assert sorted(s.parent.relative_to(dev).as_posix() for s in dev.rglob("summary.json")) == [
        "trainer.lr=0.001/synthetic_short/zero/seed=0", "trainer.lr=0.01/synthetic_short/zero/seed=0"]
    again = cli(tmp_path, "-m", "trainer.lr=0.001,0.01")
    assert [x.split()[0] for x in again.stdout.splitlines() if not x.startswith("[20")] == ["[skip]", "[skip]"]


def _outside(*argv):
    config_mod.SWEPT_OUTSIDE_PATH = None
    assert config_mod.precheck(["-m", *argv, *TINY[:1]], CONF) is None
    return config_mod.SWEPT_OUTSIDE_PATH


def test_only_keys_the_path_does_not_tell_apart_get_a_segment():
    # data, strategy and seed are in the path already: today's layout, as the committed sweeps have it
    assert _outside("data=synthetic_short,synthetic_long", "init_state=zero,noisy", "seed=0,1") == []
    # a label that names the swept value (the noise study's) keeps the path too; a plain one does not
    assert _outside("init_state=noisy", "init_state.noise_std=0.1,1.0", "init_state.label=${.name}_s${.noise_std}") == []
    assert _outside("init_state=noisy", "init_state.noise_std=0.1,1.0", "seed=0,1") == ["init_state.noise_std"]
    # a fixed label no longer tells the strategies apart
    assert _outside("init_state=zero,noisy", "init_state.label=mine") == ["init_state"]


def test_path_segment_is_one_plain_name():
    job = ["init_state=zero", "data.path=/x/a b.npz", "trainer.lr=0.01"]
    assert config_mod.path_segment(job, ["trainer.lr", "data.path"]) == "trainer.lr=0.01,data.path=%2Fx%2Fa%20b.npz/"
    assert config_mod.path_segment(job, []) == ""


def test_the_sweeper_finds_the_same_directories_without_precheck(tmp_path, monkeypatch):
    """Hydra's own entry (no precheck): the sweeper composes each swept value itself."""
    import hydra
    from hydra.core.hydra_config import HydraConfig

    seen = []

    @hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
    def job(cfg):
        seen.append(Path(HydraConfig.get().runtime.output_dir).relative_to(tmp_path / "sweeps" / "dev").as_posix())

    monkeypatch.setattr(config_mod, "SWEPT_OUTSIDE_PATH", None)
    monkeypatch.setattr(sys, "argv", ["train.py", "-m", "trainer.lr=0.1,0.2", "seed=0,1", "hydra/job_logging=disabled",
                                      "hydra/hydra_logging=disabled", f"paths.sweeps_root={tmp_path}/sweeps"])
    monkeypatch.chdir(tmp_path)
    job()
    assert seen == [f"trainer.lr={lr}/synthetic_short/zero/seed={s}" for lr in (0.1, 0.2) for s in (0, 1)]


def test_replacing_a_finished_run_of_another_config_says_so(tmp_path):
    def cfg(*over):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
            return compose("train", overrides=[*TINY, f"paths.sweeps_root={tmp_path}/sweeps", *over])

    train(cfg(), log=lambda *_: None)
    lines = []
    train(cfg("trainer.lr=0.01"), log=lines.append)
    d = tmp_path / "sweeps" / "dev" / "synthetic_short" / "zero" / "seed=0"
    assert lines[0] == (f"[replace] {d}: a finished run of another config (trainer.lr 0.003 -> 0.01) "
                        "is replaced by this run")
    assert lines[1].startswith("[done]") and len(lines) == 2
    lines.clear()
    train(cfg("trainer.lr=0.01"), log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("[skip]")


@pytest.fixture(autouse=True)
def _no_leftover_precheck_state():
    yield
    config_mod.SWEPT_OUTSIDE_PATH = None


def test_a_read_only_sweep_finds_its_runs_in_their_segments(tmp_path, monkeypatch):
    def cfg(*over):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
            return compose("train", overrides=[*TINY, f"paths.sweeps_root={tmp_path}/sweeps", *over])

    for lr in ("0.1", "0.2"):
        train(cfg(f"trainer.lr={lr}", f"paths.swept='trainer.lr={lr}/'"), log=lambda *_: None)
    monkeypatch.setattr(config_mod, "_writable", lambda p: False)
    lines = []
    argv = ["-m", "trainer.lr=0.1,0.2", *TINY, f"paths.sweeps_root={tmp_path}/sweeps"]
    assert config_mod.precheck(argv, CONF, out=lines.append) == 0
    assert [x.split()[:2] for x in lines] == [
        ["[skip]", str(tmp_path / "sweeps" / "dev" / f"trainer.lr={lr}" / "synthetic_short" / "zero" / "seed=0")]
        for lr in ("0.1", "0.2")]
