"""Behaviour of each strategy: noise, learning, masks, errors, state_dict, adaptive scale."""

import copy
import io

import pytest
import torch
from torch import nn

import initstate
from initstate.strategies import Adaptive


def lstm(init, **kw):
    return initstate.LSTM(3, 4, num_layers=2, init=init, **kw)


@pytest.mark.parametrize("init", ["noisy", "learned_noisy", "adaptive"])
def test_noise_per_sequence_in_train_off_in_eval(init):
    m = lstm(init, noise_std=0.5)
    m.train()
    h, c = m.initial_state(256)
    # Every sequence (batch row) draws its own noise, fresh on every call.
    assert not torch.equal(h[:, 0], h[:, 1])
    assert not torch.equal(m.initial_state(256)[0], h)
    # Learned part starts at zero, so the draws are N(0, σ²): check σ on 2*256*4 samples.
    assert h.std().item() == pytest.approx(0.5, rel=0.1)
    assert c.std().item() == pytest.approx(0.5, rel=0.1)
    m.eval()
    h_eval, c_eval = m.initial_state(8)
    assert torch.equal(h_eval, torch.zeros(2, 8, 4)) and torch.equal(c_eval, torch.zeros(2, 8, 4))
    x = torch.randn(5, 8, 3)
    ref = nn.LSTM(3, 4, 2)
    ref.load_state_dict(m.state_dict(), strict=False)
    assert torch.equal(m(x)[0], ref(x)[0])


@pytest.mark.parametrize("init", ["learned_noisy", "adaptive"])
@pytest.mark.parametrize("cls", [initstate.LSTM, initstate.GRUCell])
def test_training_state_is_the_whole_learned_state_plus_noise(init, cls):
    """From a non-zero h0 (the other noise tests start at 0): batch mean h0, spread σ."""
    m = cls(3, 4, init=init, noise_std=0.3).train()
    with torch.no_grad():
        for k, p in enumerate(m.init_state.parameters()):
            p.copy_(torch.linspace(-2.0, 2.0, p.numel()).reshape(p.shape) + k)
    state = m.initial_state(4096)
    parts = state if isinstance(state, tuple) else (state,)
    bd = m.init_state.batch_dim
    for p, s in zip(m.init_state.parameters(), parts):
        noise = s - p.detach().unsqueeze(bd)
        # The mean of 4096 N(0, 0.09) draws is within 0.02 of 0 (4 SE): a state that added half
        # of h0 (or none) would be off by up to 1.5.
        assert noise.mean(dim=bd).abs().max() < 0.02
        assert noise.std().item() == pytest.approx(0.3, rel=0.05)


def test_eval_returns_learned_state_without_noise():
    m = lstm("learned_noisy", learned_init="normal").eval()
    h, c = m.initial_state(3)
    assert torch.equal(h, m.init_state.h0.unsqueeze(1).expand(2, 3, 4))
    assert torch.equal(c, m.init_state.c0.unsqueeze(1).expand(2, 3, 4))


def test_zero_state_and_noise_std_zero():
    for init, kw in (("zero", {}), ("noisy", {"noise_std": 0.0})):
        h, c = lstm(init, **kw).train().initial_state(2)
        assert not h.any() and not c.any()


@pytest.mark.parametrize("init", ["learned", "learned_noisy", "adaptive"])
@pytest.mark.parametrize("cls", [initstate.LSTM, initstate.GRU, initstate.RNN, initstate.GRUCell, initstate.LSTMCell])
def test_learned_state_receives_gradients(init, cls):
    m = cls(3, 4, init=init)
    x = torch.randn(2, 5, 3) if cls in (initstate.LSTM, initstate.GRU, initstate.RNN) else torch.randn(5, 3)
    out = m(x)
    out = out[0] if isinstance(out, tuple) else out
    out.pow(2).sum().backward()
    for p in m.init_state.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    # A step of SGD moves the learned state.
    before = [p.detach().clone() for p in m.init_state.parameters()]
    torch.optim.SGD(m.parameters(), lr=0.1).step()
    assert all(not torch.equal(b, p) for b, p in zip(before, m.init_state.parameters()))


def test_learned_matches_hand_broadcast():
    m = initstate.GRU(3, 4, num_layers=2, init="learned", learned_init="normal")
    h0 = m.init_state.h0.detach()
    x = torch.randn(7, 5, 3)
    ref = nn.GRU(3, 4, num_layers=2)
    ref.load_state_dict(m.state_dict(), strict=False)
    torch.testing.assert_close(m(x)[0], ref(x, h0[:, None, :].repeat(1, 5, 1))[0], rtol=0, atol=0)


def test_mask_learns_h_keeps_c_zero():
    m = lstm("learned_noisy", init_mask=(True, False), learned_init="normal").train()
    assert [n for n, _ in m.init_state.named_parameters()] == ["h0"]
    h, c = m.initial_state(4)
    assert h.abs().sum() > 0 and not c.any()
    assert "init_state.c0" not in m.state_dict()
    with pytest.raises(ValueError, match="one entry per state component"):
        lstm("learned", init_mask=(True,))


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid choices: zero, noisy, learned, learned_noisy, adaptive"):
        initstate.LSTM(3, 4, init="learnt")
    for cls in (initstate.GRU, initstate.RNNCell):
        with pytest.raises(ValueError, match="noise_std must be a non-negative"):
            cls(3, 4, init="noisy", noise_std=-0.1)
    with pytest.raises(ValueError, match="noise_std"):
        initstate.LSTM(3, 4, init="zero", noise_std=float("nan"))
    with pytest.raises(ValueError, match="learned_init"):
        initstate.LSTM(3, 4, init="learned", learned_init="ones")
    with pytest.raises(ValueError, match="adaptive_decay"):
        initstate.LSTM(3, 4, init="adaptive", adaptive_decay=1.0)


def test_state_dict_keys_and_roundtrip():
    ref = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    m = initstate.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, init="adaptive")
    keys = list(m.state_dict())
    assert keys[: len(ref.state_dict())] == list(ref.state_dict())
    assert set(keys) - set(ref.state_dict()) == {
        "init_state.h0", "init_state.c0", "init_state.grad_ema", "init_state.grad_ref"
    }
    with torch.no_grad():
        m.init_state.h0.normal_()
        m.init_state.grad_ema.fill_(0.5)
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    m2 = initstate.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, init="adaptive")
    m2.load_state_dict(torch.load(buf))
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    # The pretrained torch weights load into a learned-state module.
    m3 = initstate.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, init="learned")
    missing, unexpected = m3.load_state_dict(ref.state_dict(), strict=False)
    assert set(missing) == {"init_state.h0", "init_state.c0"} and not unexpected
    assert torch.equal(m3.weight_hh_l1_reverse, ref.weight_hh_l1_reverse)


def test_deepcopy_and_dtype():
    m = lstm("learned_noisy").to(torch.float64)
    assert m.init_state.h0.dtype == torch.float64
    out, (h, c) = m(torch.randn(5, 2, 3, dtype=torch.float64))
    assert out.dtype == h.dtype == torch.float64
    m2 = copy.deepcopy(m)
    assert torch.equal(m2.init_state.h0, m.init_state.h0)
    assert m.initial_state(2)[0].dtype == torch.float64


def _adaptive_step(m, x, grad_scale):
    out, _ = m(x)
    (out.sum() * grad_scale).backward()
    m.zero_grad()


def test_adaptive_scale_follows_gradient():
    torch.manual_seed(0)
    m = initstate.GRU(3, 8, init="adaptive", noise_std=0.2, adaptive_decay=0.5).train()
    strat: Adaptive = m.init_state
    assert strat.noise_scale.item() == pytest.approx(0.2)  # before any gradient: noise_std
    x = torch.randn(10, 16, 3)
    _adaptive_step(m, x, 1.0)
    ref = strat.grad_ref.clone()
    assert ref.item() > 0 and strat.noise_scale.item() == pytest.approx(0.2)
    # Hand computation of the error from the same gradient: per-sequence RMS × B, batch mean.
    captured = {}
    h0 = strat(16, torch.float32, "cpu")[0]
    h0.register_hook(lambda g: captured.setdefault("g", g))
    (m(x, h0)[0].sum() * 3.0).backward()
    g = captured["g"].movedim(1, 0).reshape(16, -1) * 16
    err = g.pow(2).mean(1).sqrt().mean()
    expected_ema = 0.5 * ref + 0.5 * err
    torch.testing.assert_close(strat.grad_ema, expected_ema.reshape(1), rtol=1e-5, atol=0)
    # Larger gradients → larger noise.
    assert strat.noise_scale.item() > 0.2
    s_large = strat.noise_scale.item()
    # Zero gradients → the scale decays geometrically towards zero.
    for _ in range(20):
        _adaptive_step(m, x, 0.0)
    assert strat.noise_scale.item() == pytest.approx(s_large * 0.5**20, rel=1e-4)
    # The drawn noise actually follows the scale.
    with torch.no_grad():
        strat.grad_ema.fill_(strat.grad_ref.item() * 3)
    h = m.initial_state(4096)
    assert (h - strat.h0.unsqueeze(1)).std().item() == pytest.approx(0.6, rel=0.05)
    m.eval()
    assert torch.equal(m.initial_state(2), strat.h0.detach().unsqueeze(1).expand(1, 2, 8))


@pytest.mark.parametrize("init", ["learned_noisy", "adaptive"])
def test_torch_compile_cpu(init):
    """The default (inductor) backend, as users call it, with a dynamic batch: the same outputs,
    gradients and adaptive σ as eager mode (fallback_random: inductor then draws eager's noise)."""
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        m = initstate.LSTM(3, 4, init=init, batch_first=True, learned_init="normal", noise_std=0.3)
        f = torch.compile(m, dynamic=True) if compiled else m
        x = torch.randn(2, 5, 3)
        m.eval()
        out_eval = f(x)[0].detach()
        m.train()
        torch.manual_seed(1)
        with torch._inductor.config.patch(fallback_random=True):
            for b in (2, 3):
                m.zero_grad()
                f(torch.randn(b, 5, 3))[0].pow(2).sum().backward()
        sigma = m.init_state.noise_scale.clone() if init == "adaptive" else torch.zeros(1)
        results.append((out_eval, [p.grad.clone() for p in m.init_state.parameters()], sigma))
    (e_out, e_grads, e_sigma), (c_out, c_grads, c_sigma) = results
    torch.testing.assert_close(c_out, e_out)
    for g, e in zip(c_grads, e_grads):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(c_sigma, e_sigma, rtol=1e-4, atol=1e-7)
    if init == "adaptive":
        assert not torch.allclose(e_sigma, torch.full_like(e_sigma, 0.3))  # σ was updated


def test_reset_rows_mixes_and_detaches():
    carried = (torch.randn(2, 3, 4, requires_grad=True), torch.randn(2, 3, 4, requires_grad=True))
    init = lstm("learned", learned_init="normal").initial_state(3)
    reset = torch.tensor([True, False, True])
    h, c = initstate.reset_rows(carried, init, reset)
    assert torch.equal(h[:, 0], init[0][:, 0]) and torch.equal(h[:, 1], carried[0][:, 1])
    assert torch.equal(c[:, 2], init[1][:, 2]) and torch.equal(c[:, 1], carried[1][:, 1])
    (h.sum() + c.sum()).backward()
    assert carried[0].grad is None  # the carried state is cut from the previous chunk's graph
    assert initstate.reset_rows(None, init, reset) is init
    cell = initstate.reset_rows(torch.zeros(3, 4), torch.ones(3, 4), reset, batch_dim=0)
    assert cell[:, 0].tolist() == [1.0, 0.0, 1.0]


def test_reset_rows_refuses_mismatched_structures():
    """An LSTM's (h, c) carried into a GRU's single h (or the reverse) is one clear error."""
    h, c = torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)
    reset = torch.tensor([True, False, True])
    with pytest.raises(ValueError, match="state structures differ: 2 carried vs 1 initial"):
        initstate.reset_rows((h, c), torch.ones(1, 3, 4), reset)
    with pytest.raises(ValueError, match="state structures differ: 1 carried vs 2 initial"):
        initstate.reset_rows(h, (h, c), reset)
    with pytest.raises(ValueError, match="batch dimension"):  # same structure, other shapes
        initstate.reset_rows((h, c), (torch.ones(2, 3, 4), torch.ones(1, 3, 4)), reset)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (cuDNN rejects a non-contiguous hx)")
@pytest.mark.parametrize("init", ["learned", "learned_noisy", "adaptive", "noisy"])
def test_cuda_cudnn_accepts_the_state(init):
    m = initstate.LSTM(3, 4, num_layers=2, bidirectional=True, init=init).cuda().train()
    x = torch.randn(7, 5, 3, device="cuda")
    h, c = m.initial_state(5)
    assert h.is_contiguous() and c.is_contiguous() and h.device.type == "cuda"
    out, _ = m(x)
    out.sum().backward()
    ref = nn.LSTM(3, 4, num_layers=2, bidirectional=True).cuda()
    ref.load_state_dict(m.state_dict(), strict=False)
    m.eval()
    torch.testing.assert_close(m(x)[0], ref(x, m.initial_state(5))[0])
