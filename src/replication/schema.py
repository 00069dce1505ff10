"""Typed config schema (Hydra structured configs) and the value checks Hydra cannot make itself.

The dataclasses below are registered in Hydra's ConfigStore as ``train_schema``; ``conf/train.yaml``
lists it first in its defaults, so every yaml and every override is merged into typed nodes and a
value of the wrong type (``trainer.epochs=abc``, ``seed=1.7``) fails at composition.
:func:`validate` adds what types cannot say: ranges, choices, lengths, required data options, and
keys smuggled in with ``+key=`` that the schema does not know. Every failure is one line naming the
key, the value and what is allowed (:class:`ConfigError`).

``data`` stays an open mapping because each dataset has its own options: they are checked against
the signature of the dataset's ``_target_`` loader instead (one file + one yaml per dataset, no
schema to keep in sync). ``init_state`` options are checked by the ``initstate`` library itself
(:func:`validate_init_state`), so the harness never restates its rules.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from .model import CELLS
from .trainer import OPTIMIZERS as OPTIMIZER_CHOICES

LOGGERS = ("wandb", "none")
LABEL = re.compile(r"[A-Za-z0-9_.+=-]+")
LOGGER_MODES = ("offline", "online", "disabled")


class ConfigError(ValueError):
    """A bad configuration, reported as one line before anything is trained or written."""


@dataclass
class ModelConfig:
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    embedding_dim: int = 32


@dataclass
class InitStateConfig:
    name: str = "zero"
    label: str = "${.name}"
    noise_std: float = 0.3
    mask: Any = None  # list of bools, one per state component; checked in validate()
    learned_init: str = "zeros"
    adaptive_decay: float = 0.99
    encoder_steps: int = 5
    encoder_hidden: int = 64


@dataclass
class TrainerConfig:
    optimizer: str = "adam"
    lr: float = 0.003
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 256
    tbptt: int = 50
    grad_clip: float = 1.0
    early_stopping: int = 0
    min_epochs: int = 0
    warmup: int = 0
    score_from: int = 0
    max_position: int = 100
    early_k: int = 5
    device: str = "cpu"
    threads: int = 1
    checkpoint: bool = True
    checkpoint_every_s: float = 30.0
    progress: bool = True


@dataclass
class LoggerConfig:
    name: str = "none"
    mode: str = "offline"
    project: str = "initstate"
    dir: str | None = None  # None: the run's own directory


@dataclass
class PathsConfig:
    sweeps_root: str = "sweeps"
    sweep_dir: str = "${.sweeps_root}/${sweep_name}"
    # Set by the sweeper for each job: the swept keys the run directory does not already tell apart,
    # e.g. "trainer.lr=0.01/" (replication.config.path_segment), so two configs never share one.
    swept: str = ""


@dataclass
class ScaleConfig:
    shakespeare_train_chars: int | None = 50000
    shakespeare_eval_chars: int | None = 10000
    folk_tunes: int | None = 1000
    words_train_tokens: int | None = None
    words_eval_tokens: int | None = None
    synthetic_short_sequences: int = 2000
    synthetic_short_eval_sequences: int = 400
    synthetic_long_length: int = 5000
    synthetic_long_eval_sequences: int = 2


@dataclass
class TrainConfig:
    data: dict[str, Any] = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    init_state: InitStateConfig = field(default_factory=InitStateConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    seed: int = 0
    sweep_name: str = "dev"


ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def _unknown_keys(node: DictConfig, schema: type, prefix: str = "") -> list[str]:
    """Dotted keys present in ``node`` but not fields of ``schema`` (``+key=`` adds them)."""
    known = {f.name: f for f in fields(schema)}
    out = []
    for key in node.keys():
        if key not in known:
            out.append(f"{prefix}{key}")
            continue
        sub = known[key].type
        sub = globals().get(sub, sub) if isinstance(sub, str) else sub
        if is_dataclass(sub) and isinstance(node[key], DictConfig):
            out += _unknown_keys(node[key], sub, f"{prefix}{key}.")
    return out


def _check(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed; valid: {allowed}")


def _choice(key: str, value, choices) -> None:
    _check(value in choices, key, value, ", ".join(map(str, choices)))


def validate_data(data: DictConfig) -> None:
    """``data.*``: every key is an option of the ``_target_`` loader, required ones are set."""
    if "_target_" not in data:
        raise ConfigError("data has no _target_; choose a dataset with data=<name>")
    from hydra.utils import get_method

    try:
        loader = get_method(data._target_)
    except Exception as e:  # noqa: BLE001 - hydra raises several types for a bad path
        raise ConfigError(f"data._target_={data._target_!r} cannot be imported ({type(e).__name__})") from None
    for key in data:
        if OmegaConf.is_missing(data, key):
            raise ConfigError(f"data.{key} is required for this dataset (set data.{key}=...)")
    params = inspect.signature(loader).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # the loader validates its own extra options
    unknown = [k for k in data if k != "_target_" and k not in params]
    if unknown:
        valid = ", ".join(k for k in params if not k.startswith("_"))
        raise ConfigError(f"data.{unknown[0]} is not an option of {data._target_}; valid: {valid}")


def validate_init_state(s: DictConfig, m: DictConfig) -> None:
    """``init_state.*``, by the library's own checks: the recurrent module is built as the run will
    build it, on the meta device (no memory, no random draws), and its ``ValueError`` becomes one
    line. An option the chosen strategy does not read is not checked (the library warns that it
    has no effect)."""
    import warnings

    mask = OmegaConf.to_container(s.mask) if OmegaConf.is_config(s.mask) else s.mask
    options = dict(init=s.name, noise_std=s.noise_std, init_mask=mask, learned_init=s.learned_init,
                   adaptive_decay=s.adaptive_decay, encoder_steps=s.encoder_steps, encoder_hidden=s.encoder_hidden)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "has no effect" warnings: the run itself gives them
            CELLS[m.cell](1, m.hidden_size, num_layers=m.num_layers, bidirectional=m.bidirectional,
                          batch_first=True, device="meta", **options)
    except ValueError as e:
        raise ConfigError(f"init_state: {str(e).strip().splitlines()[0]}") from None


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` (one line) for the first bad value in a composed config."""
    removed = [f.name for f in fields(TrainConfig) if f.name not in cfg]
    if removed:
        raise ConfigError(f"{removed[0]} is part of the schema and cannot be removed (~{removed[0]}); "
                          f"set it instead, e.g. {removed[0]}=<value>")
    extra = _unknown_keys(OmegaConf.masked_copy(cfg, [k for k in cfg if k not in ("data", "hydra")]), TrainConfig)
    if extra:
        raise ConfigError(f"unknown config key {extra[0]!r} (added with '+'?); it is not part of the schema")
    t, m, lg = cfg.trainer, cfg.model, cfg.logger
    _choice("model.cell", m.cell, CELLS)
    for key in ("hidden_size", "num_layers", "embedding_dim"):
        _check(m[key] >= 1, f"model.{key}", m[key], ">= 1")
    _check(0 <= m.dropout < 1, "model.dropout", m.dropout, "0 <= dropout < 1")
    label = str(cfg.init_state.label)
    # The label names the run's directory: a path (../x, a/b) would put the run outside its sweep.
    _check(bool(LABEL.fullmatch(label)) and label not in (".", ".."), "init_state.label", label,
           "a plain name of letters, digits and _ . - + = (it names the run directory)")
    validate_init_state(cfg.init_state, m)
    for key in ("batch_size", "eval_batch_size", "epochs", "tbptt", "threads", "max_position", "early_k"):
        _check(t[key] >= 1, f"trainer.{key}", t[key], ">= 1")
    _check(t.lr > 0, "trainer.lr", t.lr, "> 0")
    for key in ("weight_decay", "grad_clip", "early_stopping", "warmup", "score_from"):
        _check(t[key] >= 0, f"trainer.{key}", t[key], ">= 0 (0 = off)")
    _check(0 <= t.min_epochs <= t.epochs, "trainer.min_epochs", t.min_epochs, f"0 <= min_epochs <= trainer.epochs ({t.epochs})")
    _check(t.checkpoint_every_s >= 0, "trainer.checkpoint_every_s", t.checkpoint_every_s, ">= 0 (0 = every epoch)")
    _check(t.early_k <= t.max_position, "trainer.early_k", t.early_k, f"<= trainer.max_position ({t.max_position})")
    _choice("trainer.optimizer", t.optimizer, OPTIMIZER_CHOICES)
    _choice("logger.name", lg.name, LOGGERS)
    _choice("logger.mode", lg.mode, LOGGER_MODES)
    _check(cfg.seed >= 0, "seed", cfg.seed, ">= 0")
    dev = str(t.device)
    _check(dev in ("cpu", "auto") or dev.startswith("cuda"), "trainer.device", dev, "auto, cpu, cuda, cuda:N")
    if dev.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.device={dev} but no CUDA device is available; valid here: cpu, auto")
    validate_data(cfg.data)
