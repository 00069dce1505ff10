"""A run on which nothing, or nothing meaningful, would be scored fails before training with one
line; options that do not apply to the data say so (issue 21, item 2)."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from replication.run import ConfigError, train

CONF = Path(__file__).resolve().parents[1] / "conf"
TINY = {"synthetic_short": ["data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8"],
        "synthetic_long": ["data.num_sequences=2", "data.length=200", "data.val_sequences=1", "data.test_sequences=1"]}
quiet = dict(log=lambda *_: None)


def cfg_of(tmp_path, *overrides, data="synthetic_short"):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=[f"data={data}", f"paths.sweeps_root={tmp_path}/sweeps", "logger=none",
                                           "trainer.epochs=1", "trainer.progress=false", "model.hidden_size=8",
                                           *TINY.get(data, []), *overrides])


@pytest.mark.parametrize("data,override,match", [
    # synthetic_short: 25-step windows, i.e. 24 input/target pairs at positions 0-23
    ("synthetic_short", "trainer.warmup=24", "trainer.warmup=24 leaves no step of synthetic_short's train split"),
    ("synthetic_short", "trainer.score_from=1000", "trainer.score_from=1000 leaves no step of synthetic_short's val"),
    ("synthetic_long", "trainer.warmup=100000", "trainer.warmup=100000 leaves no step of synthetic_long's train"),
])
def test_no_scored_step_is_an_error_before_training(tmp_path, data, override, match):
    with pytest.raises(ConfigError, match=match):
        train(cfg_of(tmp_path, override, data=data), **quiet)
    assert not list(tmp_path.rglob("*.json*"))


def test_the_last_scorable_step_still_trains(tmp_path):
    # warmup 23 leaves position 23 of every window: 1 scored step per sequence, loss not 0
    s = train(cfg_of(tmp_path, "trainer.warmup=23"), **quiet)
    assert s["status"] == "finished" and s["best_val_loss"] > 0.01


def _custom(tmp_path, name, task, **arrays):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return cfg_of(tmp_path, f"data.path={path}", f"data.task={task}", data="custom")


def test_one_class_and_one_token_are_errors(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="every train sequence has label 3; a classifier of one class"):
        train(_custom(tmp_path, "one", "classify", values=rng.normal(size=(300, 2)), lengths=[10] * 30,
                      labels=[3] * 30), **quiet)
    with pytest.raises(ConfigError, match="its train split holds token 0 only"):
        train(_custom(tmp_path, "tok", "lm", values=np.zeros(300, dtype=int), lengths=[10] * 30), **quiet)
    # two classes (and two tokens) are enough
    labels = [1] + [3] * 29
    s = train(_custom(tmp_path, "two", "classify", values=rng.normal(size=(300, 2)), lengths=[10] * 30,
                      labels=labels, split=["train"] * 28 + ["val", "test"]), **quiet)
    assert s["status"] == "finished" and s["best_val_loss"] > 0


def test_warmup_on_a_classify_dataset_is_noted(tmp_path):
    lines = []
    train(cfg_of(tmp_path, "trainer.warmup=2", "trainer.score_from=3", data="japanese_vowels"), log=lines.append)
    assert lines[0] == ("[note] trainer.warmup=2 and trainer.score_from=3 do not apply to japanese_vowels "
                        "(classify: the loss is at the last step); they change nothing")
    lines.clear()
    train(cfg_of(tmp_path / "b", data="japanese_vowels"), log=lines.append)
    assert not [x for x in lines if x.startswith("[note]")]
