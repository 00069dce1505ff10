"""The training code against independent references (torch.nn, torch.nn.functional, formulas by
hand): losses, the classify head, clipping, optimizers, dropout, scoring from a step, GRU/RNN
runs (issue 21, item 12)."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from torch import nn

from replication.model import SequenceModel, per_step_loss
from replication.run import load_dataset, set_up
from replication.trainer import fit_epoch, make_optimizer, run_epoch

CONF = Path(__file__).resolve().parents[1] / "conf"
TORCH = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def cfg_of(tmp_path, *overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=[f"paths.sweeps_root={tmp_path}/sweeps", "logger=none", "trainer.progress=false",
                                           "model.hidden_size=8", "data.num_sequences=40", "data.val_sequences=8",
                                           "data.test_sequences=8", *overrides])


def torch_twin(model: SequenceModel) -> tuple[nn.Module, nn.Linear]:
    """A plain torch.nn RNN and head holding ``model``'s weights."""
    r = model.rnn
    twin = TORCH[r.mode.lower().split("_")[0] if r.mode.startswith("RNN") else r.mode.lower()](
        r.input_size, r.hidden_size, num_layers=r.num_layers, bidirectional=r.bidirectional, batch_first=True,
        **({"nonlinearity": r.nonlinearity} if r.mode.startswith("RNN") else {}))
    twin.load_state_dict({k: v for k, v in r.state_dict().items() if "init_state" not in k})
    head = nn.Linear(model.head.in_features, model.head.out_features)
    head.load_state_dict(model.head.state_dict())
    return twin, head


def test_per_step_losses_are_torch_functional():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    # forecast: the MSE averaged over channels (a sum would weigh wide data C times more)
    assert torch.allclose(per_step_loss("forecast", out, y), F.mse_loss(out, y, reduction="none").mean(-1))
    logits, tok = torch.randn(3, 5, 7, generator=g), torch.randint(7, (3, 5), generator=g)
    ref = F.cross_entropy(logits.reshape(15, 7), tok.reshape(15), reduction="none").reshape(3, 5)
    assert torch.allclose(per_step_loss("lm", logits, tok), ref)
    cls, lab = torch.randn(4, 6, generator=g), torch.randint(6, (4,), generator=g)
    assert torch.allclose(per_step_loss("classify", cls, lab), F.cross_entropy(cls, lab, reduction="none"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,bidi", [(1, False), (2, True), (3, False)])
def test_classify_head_reads_the_top_layers_final_state(cell, layers, bidi):
    torch.manual_seed(0)
    model = SequenceModel("classify", cell, 3, 4, hidden_size=5, num_layers=layers, bidirectional=bidi, init="zero").eval()
    twin, head = torch_twin(model)
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 3)
    got, _ = model(x, None, lengths)
    for i, n in enumerate(lengths.tolist()):  # each sequence alone, unpadded: no packing to trust
        _, h = twin(x[i : i + 1, :n])
        h = (h[0] if cell == "lstm" else h).view(layers, 2 if bidi else 1, 1, 5)[-1]  # the top layer
        ref = head(torch.cat(list(h), -1))  # forward then backward direction
        assert torch.allclose(got[i], ref[0], atol=1e-6), i


def _one_batch(tmp_path, cell, *over):
    cfg = cfg_of(tmp_path, f"model={cell}", "trainer.batch_size=64", *over)  # 40 sequences: one batch
    data = load_dataset(cfg, log=lambda *_: None)
    torch.manual_seed(0)
    model = SequenceModel("forecast", cell, data.num_channels, data.num_channels, hidden_size=8, init="zero")
    return data, model


def _reference_gradient(model, data):
    """The train loss by hand (torch.nn twin, F.mse_loss over the real steps) and its gradient."""
    twin, head = torch_twin(model)
    (b,) = list(data.batches("train", 64))
    out, _ = twin(b.inputs)
    loss = F.mse_loss(head(out)[b.mask], b.targets[b.mask])  # the mean over steps and channels
    params = [*twin.parameters(), *head.parameters()]
    return loss.detach(), torch.autograd.grad(loss, params)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_a_training_step_is_sgd_on_the_clipped_gradient(tmp_path, cell, clip):
    data, model = _one_batch(tmp_path, cell)
    loss, grads = _reference_gradient(model, data)
    before = [p.detach().clone() for n, p in model.named_parameters() if "init_state" not in n]
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    scale = min(1.0, clip / float(norm)) if clip > 0 else 1.0
    assert clip == 0 or scale < 0.5  # the clip really bites here
    stats = run_epoch(model, data, "train", 64, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                      generator=torch.Generator().manual_seed(0), grad_clip=clip)
    assert stats.loss == pytest.approx(loss.item(), rel=1e-5)
    after = [p.detach() for n, p in model.named_parameters() if "init_state" not in n]
    for p0, p1, g in zip(before, after, grads):
        assert torch.allclose(p1, p0 - 0.5 * scale * g, atol=1e-6)


def test_adamw_and_weight_decay_follow_their_formulas(tmp_path):
    cfg = cfg_of(tmp_path, "trainer.optimizer=adamw", "trainer.weight_decay=0.1", "trainer.lr=0.01")
    loop = set_up(cfg, load_dataset(cfg, log=lambda *_: None))
    assert type(loop.optimizer) is torch.optim.AdamW and loop.optimizer.param_groups[0]["weight_decay"] == 0.1
    g = torch.tensor([0.5, -2.0, 1e-3])
    for name, expected in [
        # AdamW's first step: decoupled decay, then lr * m/(sqrt(v)+eps) with m = g, v = g^2
        ("adamw", lambda p: p * (1 - 0.01 * 0.1) - 0.01 * g / (g.abs() + 1e-8)),
        # Adam: L2 decay is added to the gradient before the moments
        ("adam", lambda p: p - 0.01 * (g + 0.1 * p) / ((g + 0.1 * p).abs() + 1e-8)),
    ]:
        p = nn.Parameter(torch.tensor([1.0, 2.0, -3.0]))
        p0 = p.detach().clone()
        opt = make_optimizer(name, [p], 0.01, 0.1)
        p.grad = g.clone()
        opt.step()
        assert torch.allclose(p.detach(), expected(p0), atol=1e-7), name


def test_dropout_is_torchs_between_layers_and_off_in_evaluation():
    torch.manual_seed(0)
    model = SequenceModel("forecast", "lstm", 3, 3, hidden_size=6, num_layers=2, dropout=0.5, init="zero")
    twin, head = torch_twin(model)
    twin.dropout = 0.5
    x = torch.randn(4, 7, 3)
    model.train(), twin.train()
    torch.manual_seed(1)
    got, _ = model(x)
    torch.manual_seed(1)
    ref = head(twin(x)[0])
    assert torch.allclose(got, ref, atol=1e-6)  # the same dropout masks as torch.nn.LSTM draws
    twin.eval()
    assert not torch.allclose(got, head(twin(x)[0]), atol=1e-3)  # and they matter
    model.eval()
    assert torch.allclose(model(x)[0], head(twin(x)[0]), atol=1e-6)
    # one layer: nothing to drop between layers (torch would warn), so no dropout at all
    assert SequenceModel("forecast", "lstm", 3, 3, num_layers=1, dropout=0.5, init="zero").rnn.dropout == 0


@pytest.mark.parametrize("option", ["trainer.score_from", "trainer.warmup"])
def test_evaluation_scores_only_the_steps_from_k(tmp_path, option):
    """The conditioned study's "scored on steps >= 5": val and test leave positions < k out."""
    cfg = cfg_of(tmp_path, f"{option}=5", "trainer.max_position=30", "init_state=learned")
    data = load_dataset(cfg, log=lambda *_: None)
    loop = set_up(cfg, data)
    row = fit_epoch(loop, 0, None, 0.0).row
    model = loop.model.eval()
    twin, head = torch_twin(model)
    h0, c0 = model.rnn.init_state.h0.detach(), model.rnn.init_state.c0.detach()  # (1, 1, H) each: learned
    with torch.no_grad():
        for split in ("val", "test"):
            tot, n, prof = 0.0, 0, torch.zeros(24, dtype=torch.float64)  # 24 positions a window
            for b in data.batches(split, 64):
                start = tuple(s.expand(1, len(b.inputs), -1).contiguous() for s in (h0, c0))
                err = F.mse_loss(head(twin(b.inputs, start)[0]), b.targets, reduction="none").mean(-1)
                keep = b.mask & (b.positions >= 5)
                tot, n = tot + float(err[keep].double().sum()), n + int(keep.sum())
                prof += err.double().sum(0) / len(data.split(split))
            assert row[f"{split}_loss"] == pytest.approx(tot / n, rel=1e-5), split
            if split == "val":  # the profile still shows every position, those before k too
                assert row["val_early"] == pytest.approx(float(prof[:5].mean()), rel=1e-5)


def test_position_profile_is_the_mean_loss_at_each_step(tmp_path):
    """Variable lengths: the mean at step t is over the sequences that reach t, padding never counts."""
    import numpy as np

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 12, size=40)
    path = tmp_path / "var.npz"
    np.savez(path, values=rng.normal(size=(lengths.sum(), 2)), lengths=lengths)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=["data=custom", f"data.path={path}", "data.task=forecast", "logger=none",
                                           f"paths.sweeps_root={tmp_path}/sweeps", "model.hidden_size=8",
                                           "trainer.max_position=14"])
    data = load_dataset(cfg, log=lambda *_: None)
    loop = set_up(cfg, data)
    best = fit_epoch(loop, 0, None, 0.0).best
    twin, head = torch_twin(loop.model.eval())
    for split, key in (("val", "position_profile"), ("test", "test_position_profile")):
        sums, counts = torch.zeros(14, dtype=torch.float64), torch.zeros(14)
        with torch.no_grad():
            for seq in data.split(split).sequences():  # each sequence alone: x[:-1] predicts x[1:]
                err = F.mse_loss(head(twin(seq[None, :-1])[0])[0], seq[1:], reduction="none").mean(-1)
                sums[: len(err)] += err.double()
                counts[: len(err)] += 1
        assert best[key] == [pytest.approx(float(s / c), rel=1e-5) if c else None for s, c in zip(sums, counts)]
        # position 0's count is the number of sequence starts, here every sequence of the split
        assert best["position_counts"][split] == [int(c) for c in counts], split
        assert best["position_counts"][split][0] == len(data.split(split).lengths)
