"""Typed configs (Hydra structured configs) and range checks: every bad value is one line naming
the key, the value and what is allowed, before anything runs (issue 8, defect 5)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from replication.config import precheck
from replication.schema import ConfigError, TrainConfig, validate

CONF = Path(__file__).resolve().parents[1] / "conf"

BAD = [
    # types (Hydra's structured configs reject these at composition)
    ("trainer.epochs=abc", "trainer.epochs: Value 'abc' of type 'str' could not be converted to Integer"),
    ("trainer.lr=fast", "trainer.lr: Value 'fast' of type 'str' could not be converted to Float"),
    ("seed=abc", "seed: Value 'abc' of type 'str' could not be converted to Integer"),
    ("trainer.epochs=1.7", "trainer.epochs: Value '1.7' of type 'float' could not be converted to Integer"),
    # ranges
    ("trainer.weight_decay=-5", "trainer.weight_decay=-5.0 is not allowed; valid: >= 0"),
    ("model.dropout=2", "model.dropout=2.0 is not allowed; valid: 0 <= dropout < 1"),
    ("trainer.threads=0", "trainer.threads=0 is not allowed; valid: >= 1"),
    # init_state options: the initstate library's own checks, as one line
    ("init_state=adaptive init_state.adaptive_decay=2", "init_state: adaptive_decay must lie in [0, 1), got 2.0"),
    ("init_state.noise_std=nan", "init_state: noise_std must be a non-negative finite number, got nan"),
    ("init_state=encoder init_state.encoder_steps=0", "init_state: encoder_steps must be a positive int, got 0"),
    ("trainer.grad_clip=-1", "trainer.grad_clip=-1.0 is not allowed; valid: >= 0"),
    ("trainer.early_stopping=-3", "trainer.early_stopping=-3 is not allowed; valid: >= 0"),
    ("trainer.max_position=0", "trainer.max_position=0 is not allowed; valid: >= 1"),
    # choices
    ("init_state=learned init_state.learned_init=bogus", "init_state: unknown learned_init 'bogus'; valid choices: zeros, normal"),
    ("init_state.mask=[true,false,true]", "init_state: init_mask needs one entry per state component (['h0', 'c0'])"),
    ("model=gru init_state.mask=[true,false]", "init_state: init_mask needs one entry per state component (['h0'])"),
    ("data=custom", "data.path is required for this dataset"),
    ("data=custom data.path=x.npz", "data.task is required for this dataset"),
    ("data=treering_windows +data.windw=5", "data.windw is not an option of replication.data.treering.load; valid: regime, window"),
    # keys that are not part of the schema
    ("+trainer.foo=1", "unknown config key 'trainer.foo'"),
    ("+extra=1", "unknown config key 'extra'"),
    ("trainer.foo=1", "unknown config key 'trainer.foo'"),
    # issue 21, items 6 and 7: one line where a traceback was
    ("init_state=noisy init_state.noise_std=inf", "init_state: noise_std must be a non-negative finite number, got inf"),
    ("~seed", "seed is part of the schema and cannot be removed (~seed); set it instead, e.g. seed=<value>"),
    ("-m init_state.noise_std=interval(0,1)", "init_state.noise_std=interval(0,1): this sweeper runs listed values only"),
    ("trainer.lr=((", "cannot parse the override 'trainer.lr=(('"),
    ("-m init_state=glob(q*)", "init_state=glob(q*) matches no init_state; valid choices: adaptive, encoder,"),
    ("-m trainer.lr=glob(q*)", "trainer.lr=glob(q*): glob() picks choices of a config group, and trainer.lr is none"),
    # the label names the run directory: a path would write outside the sweep
    ("init_state.label=../../x", "init_state.label='../../x' is not allowed; valid: a plain name"),
    ("init_state.label=a/b", "init_state.label='a/b' is not allowed; valid: a plain name"),
    ("init_state.label=..", "init_state.label='..' is not allowed; valid: a plain name"),
]


@pytest.mark.parametrize("override,message", BAD, ids=[b[0] for b in BAD])
def test_bad_value_is_one_line(override, message, capsys):
    assert precheck(override.split(), CONF) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {message}"), err


def test_bad_value_in_a_sweep_is_caught_before_any_job(capsys):
    assert precheck(["-m", "init_state=zero,learned", "trainer.lr=0.1,-2"], CONF) == 2
    assert capsys.readouterr().err.strip() == "error: trainer.lr=-2.0 is not allowed; valid: > 0"


def test_a_glob_over_a_group_is_a_sweep(monkeypatch):
    import replication.config as config_mod

    seen = []
    real = config_mod._job_config
    monkeypatch.setattr(config_mod, "_job_config", lambda ov: seen.append(ov) or real(ov))
    assert precheck(["-m", "init_state=glob(*noisy)", "logger=none"], CONF) is None
    # the first value composes the base config, the other is checked as a swept value
    assert [o for ov in seen for o in ov if o.startswith("init_state=")] == ["init_state=learned_noisy", "init_state=noisy"]


def test_valid_commands_pass_to_hydra():
    assert precheck(["init_state=learned", "trainer.epochs=3", "init_state.mask=[true,false]"], CONF) is None
    assert precheck(["-m", "experiment=default", "hydra.launcher.n_jobs=2"], CONF) is None
    assert precheck(["init_state=noisy", "init_state.label=noisy_s0.1", "init_state.noise_std=0.1"], CONF) is None
    assert precheck(["--cfg", "job"], CONF) is None  # Hydra's own modes are left to Hydra


def test_every_shipped_yaml_validates_and_is_typed():
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        for data in sorted(p.stem for p in (CONF / "data").glob("*.yaml") if p.stem != "custom"):
            cfg = compose("train", overrides=[f"data={data}"])
            validate(cfg)
            assert OmegaConf.get_type(cfg.trainer).__name__ == "TrainerConfig"
        for exp in sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")):
            # yours reads the user's file: it is given, as `make reproduce PROFILE=yours DATA=...` gives it
            mine = ["data.path=mine.npz", "data.task=forecast"] if exp == "yours" else []
            validate(compose("train", overrides=[f"experiment={exp}", *mine]))


def test_validate_rejects_a_key_added_behind_hydras_back():
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), {"data": {"_target_": "replication.data.synthetic.load"}})
    validate(cfg)
    OmegaConf.update(cfg, "model.extra", 3, force_add=True)  # what Hydra does for +model.extra=3
    with pytest.raises(ConfigError, match="unknown config key 'model.extra'"):
        validate(cfg)
