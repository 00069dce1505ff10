"""One training run from a resolved config: validate, skip if done, resume, train, record.

A run's records live in ONE directory: Hydra's output directory when launched through Hydra
(``hydra.run.dir`` / ``hydra.sweep.dir``+``subdir``; by default
``<sweeps_root>/<sweep_name>/<paths.swept><data>/<label>/seed=<k>``, where ``paths.swept`` names
the swept keys that the rest does not tell apart), else the same default path. Written
atomically there: ``config.yaml`` (resolved, headed by the run key), ``metrics.jsonl`` (one line
per epoch), ``summary.json`` (:class:`~replication.records.Summary`; written last: its presence
with a matching ``config_hash`` marks the run finished), ``wandb/`` and, while running,
``checkpoint.pt`` (:class:`~replication.records.RunState`, removed at the end) from which a killed
run resumes. :func:`train` reads as these steps; one epoch's work is
:func:`replication.trainer.fit_epoch`.

The run key hashes everything that determines the numbers: the config (minus where/how it is
logged) and the content of the data (:meth:`SequenceDataset.fingerprint`), so a rewritten data file
is a new run. A directory never holds records of two keys (:mod:`replication.rundir`): a sweep
gives each config its own directory, and a single run with a new key replaces the old records,
saying so in one line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from .io import atomic_write_text
from .model import SequenceModel
from .records import CHECKPOINT, METRICS, SUMMARY, RunState, Summary, write_summary
from .rundir import default_run_dir, finished, open_run_dir, resolve_run_dir, run_lock
from .schema import ConfigError, validate
from .tracking import make_tracker
from .trainer import EpochResult, Loop, fit_epoch, make_optimizer, state_rms

__all__ = ["ConfigError", "build_model", "default_run_dir", "finished", "load_dataset", "train", "validate"]

# Keys that change where/how a run is logged but not what it computes.
NON_SEMANTIC = ("logger", "paths", "sweep_name")
NON_SEMANTIC_TRAINER = ("threads", "progress", "checkpoint", "checkpoint_every_s", "eval_batch_size")
# Options added after results were committed: at their off (default) value they leave a run's key
# unchanged, so finished runs of earlier sweeps stay finished.
OFF_VALUES = {"trainer": {"min_epochs": 0, "warmup": 0, "score_from": 0},
              "init_state": {"encoder_steps": 5, "encoder_hidden": 64}, "data": {"max_classes": 10000, "bos": False}}
# Per-position lists stay in summary.json; the tracker's run summary takes scalars.
PER_POSITION = ("position_profile", "test_position_profile", "position_counts")
CLEAN_SUBSET_SEED = 0  # the train subset scored with the noise off: the same for every run


def load_dataset(cfg: DictConfig, log=print):
    """Instantiate ``cfg.data``; a loader's error becomes one :class:`ConfigError` line instead of
    Hydra's multi-line "Error in call to target" block. ``log`` gets a line for each option that
    does not apply to the data (:func:`validate_against_data`)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        dataset = instantiate(cfg.data)
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ConfigError(str(cause).strip().splitlines()[0]) from None
    validate_against_data(cfg, dataset, log)
    return dataset


def validate_against_data(cfg: DictConfig, dataset, log=print) -> None:
    """Model/task mismatches, and data on which nothing (meaningful) would be scored, that only the
    loaded dataset reveals: an empty split, no step left after ``warmup``/``score_from``, a single
    class or a single token (each would "finish" with loss 0). ``warmup``/``score_from`` on a
    classify dataset change nothing (its loss sits at the last step): a ``[note]`` line to ``log``."""
    if cfg.model.bidirectional and dataset.task != "classify":
        raise ConfigError(
            f"model.bidirectional=true needs a classify dataset, but {dataset.name} is {dataset.task}"
            f" ({dataset.regime}): a backward pass would see the targets; valid: model.bidirectional=false"
        )
    for split in ("train", "val", "test"):
        if dataset.split(split).total_steps == 0:
            # An empty split would score as loss 0.0 and model selection would always pick epoch 0.
            raise ConfigError(f"dataset {dataset.name}: the {split} split is empty; every run needs "
                              "train, val (model selection) and test (the endpoint) sequences")
    t = cfg.trainer
    if dataset.task == "classify":
        if t.warmup or t.score_from:
            log(f"[note] trainer.warmup={t.warmup} and trainer.score_from={t.score_from} do not apply to "
                f"{dataset.name} (classify: the loss is at the last step); they change nothing")
        classes = dataset.train.labels.unique()
        if len(classes) < 2:
            raise ConfigError(f"dataset {dataset.name}: every train sequence has label {int(classes[0])}; "
                              "a classifier of one class scores loss 0 (needs at least 2 classes)")
        return
    for split in ("train", "val", "test"):
        skip, key = max((int(t.warmup), "warmup"), (int(t.score_from), "score_from")) if split != "train" else (
            int(t.warmup), "warmup")
        pairs = (dataset.split(split).lengths - 1).clamp_min(0)  # input/target pairs per sequence
        if skip and int((pairs - skip).clamp_min(0).sum()) == 0:
            raise ConfigError(f"trainer.{key}={skip} leaves no step of {dataset.name}'s {split} split to score: "
                              f"its longest sequence has {int(pairs.max())} steps; valid: {key} < {int(pairs.max())}")
    values = dataset.train.values
    if bool((values == values[0]).all()):
        what = f"token {int(values[0])}" if dataset.task == "lm" else "one value"
        raise ConfigError(f"dataset {dataset.name}: its train split holds {what} only; "
                          "there is nothing to predict (the loss would be 0)")


def config_hash(cfg: DictConfig) -> str:
    """Hash of the config entries that determine the run's numbers (not where or how it is logged)."""
    c = OmegaConf.to_container(cfg, resolve=True)
    for k in NON_SEMANTIC:
        c.pop(k, None)
    for k in NON_SEMANTIC_TRAINER:
        c["trainer"].pop(k, None)
    for group, offs in OFF_VALUES.items():
        for k, off in offs.items():
            if c[group].get(k) == off:
                c[group].pop(k)
    c.pop("hydra", None)
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_key(cfg: DictConfig, dataset) -> str:
    """The run's identity: its config and the content of its data."""
    return hashlib.sha256(f"{config_hash(cfg)}|{dataset.fingerprint()}".encode()).hexdigest()[:16]


def build_model(cfg: DictConfig, dataset) -> SequenceModel:
    """The run's model; its weights depend on ``seed`` only, never on the strategy (paired seeds)."""
    if dataset.task == "lm":
        in_size = out_size = dataset.vocab_size
    elif dataset.task == "forecast":
        in_size = out_size = dataset.num_channels
    else:
        in_size, out_size = dataset.num_channels, dataset.num_classes
    s = cfg.init_state
    arch = dict(
        task=dataset.task, cell=cfg.model.cell, input_size=in_size, output_size=out_size,
        hidden_size=cfg.model.hidden_size, num_layers=cfg.model.num_layers,
        bidirectional=cfg.model.bidirectional, dropout=cfg.model.dropout,
        embedding_dim=cfg.model.embedding_dim,
    )
    torch.manual_seed(cfg.seed)
    reference = SequenceModel(**arch, init="zero")  # the seed's weights, identical for every strategy
    model = SequenceModel(
        **arch, init=s.name, noise_std=s.noise_std,
        init_mask=None if s.mask is None else list(s.mask),
        learned_init=s.learned_init, adaptive_decay=s.adaptive_decay,
        encoder_steps=s.encoder_steps, encoder_hidden=s.encoder_hidden,
    )
    model.load_state_dict(reference.state_dict(), strict=False)
    torch.manual_seed(cfg.seed + 1)  # the noise stream starts at the same point for every strategy
    return model


def train(cfg: DictConfig, *, log=print, run_dir: str | Path | None = None) -> Summary:
    """Train one run described by ``cfg`` and return its summary (also in ``summary.json``).

    The steps: check the config and the data, skip a finished run, take the run's lock (another
    process training the same run is waited for, then its run skipped), open the run directory
    (clearing another key's records), set up the model, restore a killed run, then epoch after
    epoch train and evaluate (:func:`~replication.trainer.fit_epoch`) and record, and finish with
    the summary.
    """
    validate(cfg)
    torch.set_num_threads(int(cfg.trainer.threads))
    dataset = load_dataset(cfg, log)
    run_dir = resolve_run_dir(cfg, dataset.name, run_dir)
    key = run_key(cfg, dataset)
    done = finished(run_dir, key)  # no lock, no write: a finished read-only sweep only reports
    if done is None:
        with run_lock(run_dir, log):
            done = finished(run_dir, key)  # the process we waited for may have finished it
            if done is None:
                return _train(cfg, dataset, run_dir, key, log)
    log(f"[skip] {run_dir} already finished ({done['status']})")
    return done


def _train(cfg: DictConfig, dataset, run_dir: Path, key: str, log) -> Summary:
    open_run_dir(run_dir, key, cfg, log)
    loop = set_up(cfg, dataset)
    state = restore(run_dir, key, loop, log)
    status = "finished"
    with Recorder.start(cfg, dataset, run_dir, state) as rec:
        for epoch in range(state.epoch + 1, int(cfg.trainer.epochs)):
            result = fit_epoch(loop, epoch, state.best.get("best_val_loss"), state.elapsed)
            if result.failure:
                status = "diverged"
                log(f"[diverged] {rec.name}: non-finite {result.failure} loss in epoch {epoch}")
                break
            rec.record(state, epoch, result, loop)
            if stops_early(state, cfg.trainer):
                status = "early_stopped"
                break
    return finish(cfg, loop, state, status, rec, log)


def set_up(cfg: DictConfig, dataset) -> Loop:
    """The model, its optimizer and the clean train subset, on the configured device."""
    t = cfg.trainer
    device = resolve_device(str(t.device))
    model = build_model(cfg, dataset).to(device)
    optimizer = make_optimizer(t.optimizer, model.parameters(), t.lr, t.weight_decay)
    # Noise-free training loss (protocol v2): a fixed subset of train, no smaller than val.
    clean = dataset.subset("train", dataset.val.total_steps, CLEAN_SUBSET_SEED)
    return Loop(model, optimizer, dataset, clean, int(cfg.seed), t, device)


def restore(run_dir: Path, key: str, loop: Loop, log) -> RunState:
    """The state a killed run of this key checkpointed, put back into ``loop``; else a fresh one."""
    path = run_dir / CHECKPOINT
    state = RunState.load(path, map_location=loop.device) if path.exists() else None
    if state is None or state.config_hash != key:  # open_run_dir removed another key's checkpoint
        return RunState(key)
    state.restore(loop.model, loop.optimizer)
    log(f"[resume] {run_dir} from epoch {state.epoch + 1}")
    return state


def stops_early(state: RunState, t) -> bool:
    """``trainer.early_stopping`` epochs without a better val loss, and ``min_epochs`` run."""
    patience = int(t.early_stopping)
    return patience > 0 and state.bad_epochs >= patience and len(state.history) >= int(t.min_epochs)


@dataclass
class Recorder:
    """A run's records while it trains: ``metrics.jsonl``, the tracker, the checkpoint and the
    progress bar. As a context manager it closes the bar, and on an exception the tracker."""

    run_dir: Path
    name: str
    tracker: object
    bar: object
    checkpoint_every_s: float | None  # None: no checkpoints
    last_save: float

    @classmethod
    def start(cls, cfg: DictConfig, dataset, run_dir: Path, state: RunState) -> Recorder:
        name = f"{dataset.name}-{cfg.init_state.label}-{cfg.seed}"
        logger_cfg = OmegaConf.to_container(cfg.logger, resolve=True)
        if not logger_cfg.get("dir"):
            # The run's own wandb/ holds only this run's attempts: a killed one's would be a second
            # offline run for `wandb sync` to upload, so it goes, and its epochs are logged again.
            shutil.rmtree(run_dir / "wandb", ignore_errors=True)
        logger_cfg["dir"] = logger_cfg.get("dir") or str(run_dir)
        tracker = make_tracker(logger_cfg, group=str(cfg.sweep_name), job_type=str(cfg.init_state.label), name=name,
                               config=OmegaConf.to_container(cfg, resolve=True))
        for row in state.history:  # a resumed run: the epochs before the kill
            _log_row(tracker, row)
        t = cfg.trainer
        every = float(t.checkpoint_every_s) if t.checkpoint else None
        return cls(run_dir, name, tracker, _progress(cfg, name, state.epoch + 1), every, time.perf_counter())

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.bar is not None:
            self.bar.close()
        if exc_type is not None:
            self.tracker.finish(1)

    def record(self, state: RunState, epoch: int, result: EpochResult, loop: Loop) -> None:
        """Add a finished epoch to ``state`` and to the records."""
        state.epoch, state.elapsed = epoch, state.elapsed + result.seconds
        state.history.append(result.row)
        if result.best is not None:
            state.best, state.bad_epochs = result.best, 0
        else:
            state.bad_epochs += 1
        atomic_write_text(self.run_dir / METRICS, "".join(json.dumps(r) + "\n" for r in state.history))
        _log_row(self.tracker, result.row)
        # Saving is a sizeable share of a seconds-long run's time, so it is rate-limited.
        if self.checkpoint_every_s is not None and time.perf_counter() - self.last_save >= self.checkpoint_every_s:
            self.last_save = time.perf_counter()
            state.save(self.run_dir / CHECKPOINT, loop.model, loop.optimizer)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(train=f"{result.row['train_loss']:.4f}", val=f"{result.row['val_loss']:.4f}")


def _log_row(tracker, row: dict) -> None:
    tracker.log({k: v for k, v in row.items() if k != "epoch" and v is not None}, step=row["epoch"])


def finish(cfg: DictConfig, loop: Loop, state: RunState, status: str, rec: Recorder, log) -> Summary:
    """Write ``summary.json`` (which marks the run finished), close the tracker, drop the checkpoint."""
    data, t = loop.data, cfg.trainer
    # The typical size of the state (noise study, Q5), of the final model: seconds for these sizes.
    ok = bool(state.history) and status != "diverged"
    rms = state_rms(loop.model, data, "val", int(t.eval_batch_size), device=loop.device) if ok else {}
    last = state.history[-1] if state.history else {}
    summary: Summary = {
        "status": status, "diverged": status == "diverged", "config_hash": state.config_hash,
        "data": data.name, "task": data.task, "regime": data.regime, "strategy": str(cfg.init_state.name),
        "label": str(cfg.init_state.label), "seed": int(cfg.seed), "noise_std": float(cfg.init_state.noise_std),
        "state_rms": rms, "epochs_run": len(state.history), "epochs_max": int(t.epochs), "early_k": int(t.early_k),
        "wall_time": state.elapsed, "sizes": data.sizes(), "final_train_loss": last.get("train_loss"),
        "final_train_loss_clean": last.get("train_loss_clean"), **state.best,
    }
    rec.tracker.summary({k: v for k, v in summary.items() if k not in PER_POSITION})
    rec.tracker.finish(0)
    write_summary(rec.run_dir / SUMMARY, summary)
    (rec.run_dir / CHECKPOINT).unlink(missing_ok=True)
    bv = summary.get("best_val_loss")
    log(f"[done] {rec.name}: {status}, best val {bv:.4f} at epoch {summary.get('best_epoch')}, "
        f"test {summary.get('test_at_best'):.4f}, {state.elapsed:.1f} s" if bv is not None else
        f"[done] {rec.name}: {status} before any epoch finished")
    return summary


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _progress(cfg: DictConfig, name: str, start: int):
    if not cfg.trainer.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(cfg.trainer.epochs), initial=start, desc=name, unit="epoch", leave=False, disable=None)
