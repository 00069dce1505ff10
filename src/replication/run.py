"""One training run from a resolved config: validate, skip if done, resume, train, record.

Every run writes, atomically, into ``<sweep>/<data>/<strategy label>/seed=<k>/``:
``config.yaml`` (resolved), ``metrics.jsonl`` (one line per epoch), ``summary.json`` (written last:
its presence with a matching ``config_hash`` marks the run finished) and, while running,
``checkpoint.pt`` (removed at the end) from which a killed run resumes.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from initstate import INIT_CHOICES

from .io import atomic_torch_save, atomic_write_json, atomic_write_text
from .model import CELLS, SequenceModel, state_norms
from .tracking import make_tracker
from .trainer import OPTIMIZERS, make_optimizer, run_epoch

# Keys that change where/how a run is logged but not what it computes.
NON_SEMANTIC = ("logger", "paths", "sweep_name")
NON_SEMANTIC_TRAINER = ("threads", "progress", "checkpoint", "eval_batch_size")
LOGGERS = ("wandb", "none")


class ConfigError(ValueError):
    """A bad configuration, reported as one line before anything is trained or written."""


def validate(cfg: DictConfig) -> None:
    """Check the values Hydra cannot check itself; raise :class:`ConfigError` naming valid values."""
    s, t, m = cfg.init_state, cfg.trainer, cfg.model
    if s.name not in INIT_CHOICES:
        raise ConfigError(f"init_state.name={s.name!r} is not a strategy; valid: {', '.join(INIT_CHOICES)}")
    if not float(s.noise_std) >= 0:
        raise ConfigError(f"init_state.noise_std must be >= 0, got {s.noise_std}")
    if m.cell not in CELLS:
        raise ConfigError(f"model.cell={m.cell!r}; valid: {', '.join(CELLS)}")
    for key in ("hidden_size", "num_layers"):
        if int(m[key]) < 1:
            raise ConfigError(f"model.{key} must be >= 1, got {m[key]}")
    for key in ("batch_size", "eval_batch_size", "epochs", "tbptt"):
        if int(t[key]) < 1:
            raise ConfigError(f"trainer.{key} must be >= 1, got {t[key]}")
    if not float(t.lr) > 0:
        raise ConfigError(f"trainer.lr must be > 0, got {t.lr}")
    if t.optimizer not in OPTIMIZERS:
        raise ConfigError(f"trainer.optimizer={t.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if cfg.logger.name not in LOGGERS:
        raise ConfigError(f"logger.name={cfg.logger.name!r}; valid: {', '.join(LOGGERS)}")
    dev = str(t.device)
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={dev} but no CUDA device is available; valid here: cpu")
    if not (dev == "cpu" or dev.startswith("cuda")):
        raise ConfigError(f"trainer.device={dev!r}; valid: cpu, cuda, cuda:N")


def validate_against_data(cfg: DictConfig, dataset) -> None:
    """Model/task mismatches that only the loaded dataset reveals."""
    if cfg.model.bidirectional and dataset.task != "classify":
        raise ConfigError(
            f"model.bidirectional=true needs a classify dataset, but {dataset.name} is {dataset.task}"
            f" ({dataset.regime}): a backward pass would see the targets; valid: model.bidirectional=false"
        )


def config_hash(cfg: DictConfig) -> str:
    """Hash of everything that determines the run's numbers (not where or how it is logged)."""
    c = OmegaConf.to_container(cfg, resolve=True)
    for k in NON_SEMANTIC:
        c.pop(k, None)
    for k in NON_SEMANTIC_TRAINER:
        c["trainer"].pop(k, None)
    c.pop("hydra", None)
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    )
    model.load_state_dict(reference.state_dict(), strict=False)
    torch.manual_seed(cfg.seed + 1)  # the noise stream starts at the same point for every strategy
    return model


def run_dir_for(cfg: DictConfig, data_name: str) -> Path:
    return Path(cfg.paths.sweep_dir) / data_name / str(cfg.init_state.label) / f"seed={cfg.seed}"


def train(cfg: DictConfig, *, log=print) -> dict:
    """Train one run described by ``cfg`` and return its summary (also in ``summary.json``)."""
    from hydra.utils import instantiate

    validate(cfg)
    torch.set_num_threads(int(cfg.trainer.threads))
    dataset = instantiate(cfg.data)
    validate_against_data(cfg, dataset)
    run_dir = run_dir_for(cfg, dataset.name)
    key = config_hash(cfg)
    summary_path, ckpt_path = run_dir / "summary.json", run_dir / "checkpoint.pt"
    if summary_path.exists():
        done = json.loads(summary_path.read_text())
        if done.get("config_hash") == key:
            log(f"[skip] {run_dir} already finished ({done['status']})")
            return done
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    t = cfg.trainer
    device = torch.device(t.device)
    model = build_model(cfg, dataset).to(device)
    optimizer = make_optimizer(t.optimizer, model.parameters(), t.lr, t.weight_decay)
    history: list[dict] = []
    best: dict = {}
    start_epoch, bad_epochs, elapsed = 0, 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["config_hash"] == key:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            torch.set_rng_state(ck["rng"])
            history, best = ck["history"], ck["best"]
            start_epoch, bad_epochs, elapsed = ck["epoch"] + 1, ck["bad_epochs"], ck["elapsed"]
            log(f"[resume] {run_dir} from epoch {start_epoch}")

    name = f"{dataset.name}-{cfg.init_state.label}-{cfg.seed}"
    tracker = make_tracker(
        OmegaConf.to_container(cfg.logger, resolve=True), group=str(cfg.sweep_name),
        job_type=str(cfg.init_state.label), name=name, config=OmegaConf.to_container(cfg, resolve=True),
    )
    status, exit_code = "finished", 0
    bar = _progress(cfg, name, start_epoch)
    try:
        for epoch in range(start_epoch, int(t.epochs)):
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(int(cfg.seed) * 100_003 + epoch)  # data order: seed only
            common = dict(tbptt=int(t.tbptt), device=device)
            tr = run_epoch(model, dataset, "train", int(t.batch_size), optimizer=optimizer, generator=gen,
                           grad_clip=float(t.grad_clip), **common)
            if not tr.finite:
                status = "diverged"
                log(f"[diverged] {name}: non-finite training loss in epoch {epoch}")
                break
            va = run_epoch(model, dataset, "val", int(t.eval_batch_size), max_position=int(t.max_position), **common)
            te = run_epoch(model, dataset, "test", int(t.eval_batch_size), **common)
            if not (va.finite and te.finite):
                status = "diverged"
                log(f"[diverged] {name}: non-finite evaluation loss in epoch {epoch}")
                break
            elapsed += time.perf_counter() - t0
            row = {
                "epoch": epoch, "train_loss": tr.loss, "val_loss": va.loss, "test_loss": te.loss,
                "gap": va.loss - tr.loss, "wall_time": elapsed, **state_norms(model),
            }
            if dataset.task == "classify":
                row.update(train_acc=tr.accuracy, val_acc=va.accuracy, test_acc=te.accuracy)
            history.append(row)
            if not best or va.loss < best["best_val_loss"]:
                best = {
                    "best_epoch": epoch, "best_val_loss": va.loss, "test_at_best": te.loss,
                    "train_at_best": tr.loss, "gap_at_best": va.loss - tr.loss,
                    "position_profile": va.profile(),
                }
                if dataset.task == "classify":
                    best.update(val_acc_at_best=va.accuracy, test_acc_at_best=te.accuracy)
                bad_epochs = 0
            else:
                bad_epochs += 1
            atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            tracker.log({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
            if t.checkpoint:
                atomic_torch_save(ckpt_path, {
                    "config_hash": key, "epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                    "history": history, "best": best, "bad_epochs": bad_epochs, "elapsed": elapsed,
                })
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{tr.loss:.4f}", val=f"{va.loss:.4f}")
            if int(t.early_stopping) > 0 and bad_epochs >= int(t.early_stopping):
                status = "early_stopped"
                break
    except BaseException:
        exit_code = 1
        raise
    finally:
        if bar is not None:
            bar.close()
        if exit_code:
            tracker.finish(exit_code)
    summary = {
        "status": status, "diverged": status == "diverged", "config_hash": key,
        "data": dataset.name, "task": dataset.task, "regime": dataset.regime,
        "strategy": str(cfg.init_state.name), "label": str(cfg.init_state.label), "seed": int(cfg.seed),
        "epochs_run": len(history), "wall_time": elapsed, "sizes": dataset.sizes(),
        "final_train_loss": history[-1]["train_loss"] if history else None, **best,
    }
    tracker.summary({k: v for k, v in summary.items() if k != "position_profile"})
    tracker.finish(0)
    atomic_write_json(summary_path, summary)
    ckpt_path.unlink(missing_ok=True)
    bv = summary.get("best_val_loss")
    log(f"[done] {name}: {status}, best val {bv:.4f} at epoch {summary.get('best_epoch')}, "
        f"test {summary.get('test_at_best'):.4f}, {elapsed:.1f} s" if bv is not None else
        f"[done] {name}: {status} before any epoch finished")
    return summary


def _progress(cfg: DictConfig, name: str, start: int):
    if not cfg.trainer.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(cfg.trainer.epochs), initial=start, desc=name, unit="epoch", leave=False, disable=None)
