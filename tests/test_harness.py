"""The Hydra training harness: every dataset × strategy trains, bad configs fail early, results
are deterministic, divergence is recorded, finished runs are skipped and killed runs resume."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

import initstate
from replication import records
from replication import run as run_mod
from replication import trainer as trainer_mod
from replication.run import ConfigError, train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small sizes so that one epoch takes well under a second.
TINY = {
    "synthetic_short": ["data.num_sequences=40", "data.val_sequences=8", "data.test_sequences=8"],
    "synthetic_long": ["data.num_sequences=2", "data.length=200", "data.val_sequences=1", "data.test_sequences=1"],
    "shakespeare_windows": ["data.max_train_chars=3000", "data.max_eval_chars=600"],
    "shakespeare_stateful": ["data.max_train_chars=3000", "data.max_eval_chars=600"],
    "japanese_vowels": [],
    "treering_windows": [],
    "treering_stateful": [],
    "folk": ["data.max_tunes=40"],
    "shakespeare_words_windows": ["data.max_train_tokens=3000", "data.max_eval_tokens=600", "data.vocab_size=500"],
    "shakespeare_words_stateful": ["data.max_train_tokens=3000", "data.max_eval_tokens=600", "data.vocab_size=500"],
}


def make_cfg(tmp_path, *overrides, data="synthetic_short", tiny=True):
    base = [f"data={data}", f"paths.sweeps_root={tmp_path}/sweeps", "logger=none", "trainer.epochs=1",
            "trainer.progress=false", "model.hidden_size=8", "model.embedding_dim=4"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=base + (TINY.get(data, []) if tiny else []) + list(overrides))


def available_datasets():
    return sorted(p.stem for p in (CONF / "data").glob("*.yaml") if p.stem != "custom")


@pytest.mark.parametrize("data", available_datasets())
@pytest.mark.parametrize("init", initstate.INIT_CHOICES)
def test_every_dataset_and_strategy_trains(tmp_path, data, init):
    cfg = make_cfg(tmp_path, f"init_state={init}", data=data)
    s = train(cfg, log=lambda *_: None)
    assert s["status"] == "finished" and s["epochs_run"] == 1
    assert np.isfinite(s["best_val_loss"]) and np.isfinite(s["test_at_best"])
    run_dir = tmp_path / "sweeps" / "dev" / data / init / "seed=0"
    assert (run_dir / "summary.json").exists() and (run_dir / "config.yaml").exists()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["gap"] == pytest.approx(rows[0]["val_loss"] - rows[0]["train_loss_clean"])
    assert s["epochs_max"] == 1 and s["train_clean_at_best"] == rows[0]["train_loss_clean"]
    if s["task"] != "classify":
        assert np.isfinite(rows[0]["val_early"]) and s["test_early_at_best"] == rows[0]["test_early"]
    assert not (run_dir / "checkpoint.pt").exists()
    if s["task"] != "classify":  # a mean exactly at the positions some val sequence reaches
        longest = int((run_mod.load_dataset(cfg, log=lambda *_: None).val.lengths - 1).max())
        reached = [v is not None for v in s["position_profile"]]
        assert reached == [t < longest for t in range(cfg.trainer.max_position)]
    if init in ("learned", "learned_noisy", "adaptive"):
        assert "state/h0_norm" in rows[0]


def test_custom_dataset_trains(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 20, size=30)
    path = tmp_path / "mine.npz"
    np.savez(path, values=rng.normal(size=(lengths.sum(), 2)).astype("float32"), lengths=lengths)
    cfg = make_cfg(tmp_path, f"data.path={path}", "data.task=forecast", data="custom")
    assert train(cfg, log=lambda *_: None)["status"] == "finished"


@pytest.mark.parametrize(
    "override,match",
    [
        ("init_state.noise_std=-0.1", "init_state: noise_std must be a non-negative finite number, got -0.1"),
        ("trainer.batch_size=0", "trainer.batch_size=0 is not allowed; valid: >= 1"),
        ("init_state.name=learnt", "unknown init 'learnt'; valid choices: zero, noisy, learned, learned_noisy, adaptive"),
        ("trainer.optimizer=rmsprop", "valid: adam, adamw, sgd"),
        ("model.bidirectional=true", "needs a classify dataset"),
        ("trainer.device=cuda:7", "no CUDA device"),
    ],
)
def test_bad_config_fails_before_writing(tmp_path, override, match):
    if "cuda" in override and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    cfg = make_cfg(tmp_path, override)
    with pytest.raises(ConfigError, match=match):
        train(cfg, log=lambda *_: None)
    assert not list((tmp_path / "sweeps").rglob("*.json*"))


def _metrics(tmp_path, name):
    lines = (tmp_path / "sweeps" / "dev" / "synthetic_short" / name / "seed=3" / "metrics.jsonl").read_text()
    return [{k: v for k, v in json.loads(x).items() if k != "wall_time"} for x in lines.splitlines()]


def test_same_seed_same_metrics(tmp_path):
    a = make_cfg(tmp_path / "a", "init_state=learned_noisy", "seed=3", "trainer.epochs=2")
    b = make_cfg(tmp_path / "b", "init_state=learned_noisy", "seed=3", "trainer.epochs=2")
    train(a, log=lambda *_: None)
    train(b, log=lambda *_: None)
    assert _metrics(tmp_path / "a", "learned_noisy") == _metrics(tmp_path / "b", "learned_noisy")


def test_paired_seeds_share_initial_weights(tmp_path):
    from hydra.utils import instantiate

    cfgs = [make_cfg(tmp_path, f"init_state={s}", "seed=5") for s in ("zero", "learned", "adaptive")]
    data = instantiate(cfgs[0].data)
    models = [run_mod.build_model(c, data) for c in cfgs]
    ref = models[0].state_dict()
    for m in models[1:]:
        for k, v in ref.items():
            assert torch.equal(v, m.state_dict()[k]), k
    # The data order depends on the seed's generator only, not on the global RNG.
    order = [b.inputs for b in data.batches("train", 8, shuffle=True, generator=torch.Generator().manual_seed(1))]
    torch.manual_seed(123)
    again = [b.inputs for b in data.batches("train", 8, shuffle=True, generator=torch.Generator().manual_seed(1))]
    assert all(torch.equal(x, y) for x, y in zip(order, again))


def test_divergence_is_recorded(tmp_path):
    cfg = make_cfg(tmp_path, "trainer.optimizer=sgd", "trainer.lr=1e12", "trainer.grad_clip=0",
                   "trainer.epochs=3", "model=rnn")
    s = train(cfg, log=lambda *_: None)
    assert s["status"] == "diverged" and s["diverged"]
    assert s["epochs_run"] < 3


def test_rerun_skips_finished_runs(tmp_path):
    cfg = make_cfg(tmp_path)
    train(cfg, log=lambda *_: None)
    summary = next((tmp_path / "sweeps").rglob("summary.json"))
    mtime = summary.stat().st_mtime_ns
    lines = []
    train(cfg, log=lines.append)
    assert lines and lines[0].startswith("[skip]") and summary.stat().st_mtime_ns == mtime
    # A changed config in the same directory is not "finished": it runs again.
    lines.clear()
    train(make_cfg(tmp_path, "trainer.lr=0.01"), log=lines.append)
    assert lines[-1].startswith("[done]") and summary.stat().st_mtime_ns != mtime


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    overrides = ("init_state=noisy", "trainer.epochs=3", "seed=3", "trainer.checkpoint_every_s=0")
    train(make_cfg(tmp_path / "a", *overrides), log=lambda *_: None)

    real = trainer_mod.run_epoch
    calls = {"train": 0}

    def dying(model, data, split, *a, **kw):
        if split == "train":
            calls["train"] += 1
            if calls["train"] == 2:
                raise KeyboardInterrupt  # killed during the second epoch
        return real(model, data, split, *a, **kw)

    monkeypatch.setattr(trainer_mod, "run_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(make_cfg(tmp_path / "b", *overrides), log=lambda *_: None)
    run_dir = tmp_path / "b" / "sweeps" / "dev" / "synthetic_short" / "noisy" / "seed=3"
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "summary.json").exists()
    monkeypatch.setattr(trainer_mod, "run_epoch", real)
    lines = []
    train(make_cfg(tmp_path / "b", *overrides), log=lines.append)
    assert lines[0].startswith("[resume]") and "epoch 1" in lines[0]
    assert _metrics(tmp_path / "a", "noisy") == _metrics(tmp_path / "b", "noisy")


def test_checkpoints_are_rate_limited(tmp_path, monkeypatch):
    saves = []
    monkeypatch.setattr(records, "atomic_torch_save", lambda path, obj: saves.append(obj["epoch"]))
    train(make_cfg(tmp_path / "a", "trainer.epochs=4", "trainer.checkpoint_every_s=0"), log=lambda *_: None)
    assert saves == [0, 1, 2, 3]
    saves.clear()
    train(make_cfg(tmp_path / "b", "trainer.epochs=4", "trainer.checkpoint_every_s=3600"), log=lambda *_: None)
    assert saves == []


def test_min_epochs_holds_off_early_stopping(tmp_path, monkeypatch):
    real = trainer_mod.run_epoch
    worse = iter(range(1, 100))

    def flat_val(model, data, split, *a, **kw):
        out = real(model, data, split, *a, **kw)
        if split == "val":  # validation only ever gets worse after epoch 0
            out.loss_sum = float(next(worse)) * max(out.count, 1)
        return out

    monkeypatch.setattr(trainer_mod, "run_epoch", flat_val)
    s = train(make_cfg(tmp_path / "a", "trainer.epochs=20", "trainer.early_stopping=2"), log=lambda *_: None)
    assert (s["status"], s["epochs_run"], s["best_epoch"]) == ("early_stopped", 3, 0)
    worse = iter(range(1, 100))
    s = train(make_cfg(tmp_path / "b", "trainer.epochs=20", "trainer.early_stopping=2", "trainer.min_epochs=7"),
              log=lambda *_: None)
    assert (s["status"], s["epochs_run"], s["best_epoch"]) == ("early_stopped", 7, 0)
    # Test is scored every epoch (protocol v3's pairing-robust endpoint); test_at_best is the best epoch's.
    rows = [json.loads(x) for x in next((tmp_path / "b").rglob("metrics.jsonl")).read_text().splitlines()]
    assert [("test_loss" in r, "test_early" in r) for r in rows] == [(True, True)] * 7
    assert s["test_at_best"] == rows[0]["test_loss"] != rows[1]["test_loss"]


def test_an_option_added_at_its_off_value_keeps_existing_run_keys(tmp_path):
    # The key of this config before trainer.min_epochs existed (commit ebe12a8): finished runs
    # of committed sweeps must stay finished.
    assert run_mod.config_hash(make_cfg(tmp_path)) == "17e0ffb0de58a066"
    assert run_mod.config_hash(make_cfg(tmp_path, "trainer.min_epochs=1")) != "17e0ffb0de58a066"


def test_wandb_offline_writes_a_run_and_none_writes_none(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_env"))
    cfg = make_cfg(tmp_path / "w", "logger=wandb")
    train(cfg, log=lambda *_: None)
    run_dir = tmp_path / "w" / "sweeps" / "dev" / "synthetic_short" / "zero" / "seed=0"
    runs = list((run_dir / "wandb").glob("offline-run-*"))  # beside the run's own records
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    train(make_cfg(tmp_path / "n"), log=lambda *_: None)
    assert not list((tmp_path / "n").rglob("wandb"))


def test_wandb_failure_only_warns(tmp_path, monkeypatch):
    import wandb

    def broken(*a, **kw):
        raise RuntimeError("no wandb today")

    monkeypatch.setattr(wandb, "init", broken)
    with pytest.warns(UserWarning, match="wandb could not start"):
        s = train(make_cfg(tmp_path, "logger=wandb"), log=lambda *_: None)
    assert s["status"] == "finished"


@pytest.mark.parametrize("experiment,seeds,datasets", [("default", 10, 7), ("full", 10, 8)])
def test_experiment_profiles_compose(experiment, seeds, datasets):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    data = params.data.split(",")
    assert len(data) == datasets and all((CONF / "data" / f"{d}.yaml").exists() for d in data)
    # The blog's strategies plus adaptive; encoder has its own study (conditioned.yaml).
    assert params.init_state.split(",") == ["zero", "noisy", "learned", "learned_noisy", "adaptive"]
    assert params.seed == f"range({seeds})"
    assert cfg.init_state.noise_std == 0.3 and cfg.sweep_name == experiment
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    # Every short-many / long-few pair of H4 is in the default grid.
    from replication.studies.claims.claims import PAIRS

    assert all(a in data and b in data for a, b in PAIRS.values())


def test_clean_training_loss_carries_no_noise(tmp_path):
    """With frozen weights (lr ~ 0) zero and noisy are the same model: the clean training loss is
    equal, the in-training loss is inflated by the noise (the bias protocol v2 removes)."""
    rows = {}
    for init in ("zero", "noisy"):
        # noise_std only where it applies: zero would (rightly) warn that it ignores it
        cfg = make_cfg(tmp_path, f"init_state={init}", *(["init_state.noise_std=3.0"] if init == "noisy" else []),
                       "trainer.lr=1e-30")
        train(cfg, log=lambda *_: None)
        d = tmp_path / "sweeps" / "dev" / "synthetic_short" / init / "seed=0"
        rows[init] = json.loads((d / "metrics.jsonl").read_text().splitlines()[0])
    assert rows["noisy"]["train_loss_clean"] == pytest.approx(rows["zero"]["train_loss_clean"], rel=1e-6)
    assert rows["noisy"]["val_loss"] == pytest.approx(rows["zero"]["val_loss"], rel=1e-6)
    assert rows["noisy"]["train_loss"] > 1.005 * rows["zero"]["train_loss"]


def test_early_position_loss_is_the_mean_of_the_first_k_steps(tmp_path):
    s = train(make_cfg(tmp_path, "trainer.early_k=3", "trainer.max_position=3"), log=lambda *_: None)
    # synthetic_short's windows all have 24 pairs: every position has the same count, so the
    # early loss is the plain mean of the profile's first 3 entries.
    assert s["val_early_at_best"] == pytest.approx(sum(s["position_profile"][:3]) / 3)


def test_stateful_evaluation_is_the_same_in_long_chunks(tmp_path):
    """run.py evaluates stateful data in 1,000-step chunks: the state is carried either way, so the
    losses (and the per-position profile) equal those of tbptt-sized chunks."""
    from hydra.utils import instantiate

    from replication.trainer import run_epoch

    cfg = make_cfg(tmp_path, "init_state=learned", data="synthetic_long")
    data = instantiate(cfg.data)
    model = run_mod.build_model(cfg, data)
    short = run_epoch(model, data, "val", 4, tbptt=50, max_position=60)
    long = run_epoch(model, data, "val", 4, tbptt=1000, max_position=60)
    assert long.count == short.count and long.loss == pytest.approx(short.loss, rel=1e-5)
    assert long.profile() == pytest.approx(short.profile(), rel=1e-5)


def test_state_rms_matches_torch_nn_lstm_run_by_hand(tmp_path):
    from replication.run import build_model, load_dataset
    from replication.trainer import state_rms

    cfg = make_cfg(tmp_path, "init_state=learned", "model.hidden_size=6")
    data = load_dataset(cfg)
    model = build_model(cfg, data)
    with torch.no_grad():
        model.rnn.init_state.h0.normal_()  # a non-zero start, so the first step's state matters
    got = state_rms(model, data, "val", 64)
    ref = torch.nn.LSTMCell(model.rnn.input_size, 6)
    ref.load_state_dict({k.replace("_l0", ""): v for k, v in model.rnn.state_dict().items() if "_l0" in k})
    sq, n = np.zeros(2), 0
    with torch.no_grad():
        for b in data.batches("val", 64):
            h = model.rnn.init_state.h0[0].expand(b.inputs.size(0), -1)
            c = torch.zeros_like(h)
            for t in range(b.inputs.size(1)):
                h, c = ref(b.inputs[:, t], (h, c))
                m = b.mask[:, t]
                sq += [h[m].pow(2).sum().item(), c[m].pow(2).sum().item()]
                n += int(m.sum()) * 6
    assert got == pytest.approx({"h": np.sqrt(sq[0] / n), "c": np.sqrt(sq[1] / n)}, rel=1e-5)
    s = train(make_cfg(tmp_path / "r"), log=lambda *_: None)
    assert set(s["state_rms"]) == {"h", "c"} and s["noise_std"] == 0.3


@pytest.mark.parametrize("data", ["synthetic_short", "synthetic_long"])
def test_warmup_leaves_the_first_steps_out_of_the_loss(tmp_path, data):
    from replication.run import build_model, load_dataset
    from replication.trainer import run_epoch

    cfg = make_cfg(tmp_path, "init_state=learned", data=data)
    ds = load_dataset(cfg)
    model = build_model(cfg, ds).eval()
    full = run_epoch(model, ds, "val", 64, max_position=10, tbptt=1000)
    warm = run_epoch(model, ds, "val", 64, max_position=10, tbptt=1000, skip=3)
    tot, n, state = 0.0, 0, None
    with torch.no_grad():  # by hand: the same forward passes, positions 0-2 of each sequence dropped
        for b in ds.batches("val", 64, tbptt=1000):
            hx = None if ds.regime == "windows" else initstate.reset_rows(
                state, model.rnn.initial_state(b.reset.numel()), b.reset)
            out, state = model(b.inputs, hx, b.lengths)
            keep = b.mask & (b.positions >= 3)
            # the squared error averaged over channels, by hand (not the code's per_step_loss)
            err = torch.nn.functional.mse_loss(out, b.targets, reduction="none").mean(-1)
            tot += float(err[keep].double().sum())
            n += int(keep.sum())
    assert warm.count == n < full.count and warm.loss == pytest.approx(tot / n, rel=1e-6)
    assert warm.profile() == full.profile()  # the position profile still shows the warm-up steps


@pytest.mark.parametrize("data", ["synthetic_long", "japanese_vowels", "shakespeare_windows"])
def test_encoder_and_warmup_train_in_every_regime(tmp_path, data):
    s = train(make_cfg(tmp_path, "init_state=encoder", "init_state.encoder_steps=3", "trainer.warmup=2",
                       "trainer.score_from=3", "trainer.epochs=2", data=data), log=lambda *_: None)
    assert s["status"] == "finished" and np.isfinite(s["test_at_best"])


def test_the_row_asks_the_strategy_for_its_diagnostics(tmp_path):
    """A strategy's metrics are its parameter norms and its diagnostics(), one key per component;
    an attribute outside diagnostics() (here a noise_scale) is not probed for."""
    from initstate.strategies import STRATEGIES
    from initstate.strategies.zero import Zero

    @initstate.register("probe_diagnostics")
    class Probe(Zero):
        noise_scale = torch.tensor([9.0, 9.0])
        grad_ema = torch.tensor([9.0, 9.0])

        def diagnostics(self):
            return {"spread": torch.tensor([1.5, 2.5])}

    try:
        train(make_cfg(tmp_path, "init_state.name=probe_diagnostics"), log=lambda *_: None)
    finally:
        STRATEGIES.pop("probe_diagnostics")
    d = tmp_path / "sweeps" / "dev" / "synthetic_short" / "probe_diagnostics" / "seed=0"
    row = json.loads((d / "metrics.jsonl").read_text().splitlines()[0])
    assert {k: v for k, v in row.items() if k.startswith("state/")} == {"state/h0_spread": 1.5, "state/c0_spread": 2.5}


@pytest.mark.parametrize("init", initstate.INIT_CHOICES)
def test_a_run_with_the_shipped_options_warns_nothing(tmp_path, init):
    """`make test` showed warnings of the project's own (issue 21, item 11): a run of the shipped
    configs must raise none, so that a warning a user sees means something."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(make_cfg(tmp_path, f"init_state={init}", "trainer.epochs=2"), log=lambda *_: None)
    assert [str(w.message) for w in caught] == []
