"""Issue 20's five failures: compile(dynamic=True) with adaptive, a non-finite backward and the
GradScaler's loss scale, quantize_dynamic, an empty batch, vmap(randomness="different").

Each test compares with an independent reference: torch.nn itself, or the same strategy run in
plain eager mode on the same noise (same seeds), where the transform must not change anything.
"""

import warnings

import pytest
import torch
from torch import nn
from torch.func import vmap

import initstate
from initstate.strategies.adaptive import use_grad_scaler

RNNS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
CELLS = {"LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell, "RNNCell": nn.RNNCell}


def first(out):
    return out[0] if isinstance(out, tuple) else out


def flat(out):
    """Every tensor of a (nested) torch.nn output, in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in flat(o)]


def example(kind, batch=2):
    return torch.randn(5, batch, 3) if kind in RNNS else torch.randn(batch, 3)


# --- 1. torch.compile(dynamic=True) in training ---------------------------------------------------


def _adaptive_steps(kind, compiled: bool, steps=3):
    """σ and h0's gradient after ``steps`` training steps, eager or compiled, on the same noise."""
    torch.manual_seed(0)
    m = getattr(initstate, kind)(3, 4, init="adaptive", adaptive_decay=0.5).train()
    # aot_eager: dynamo + AOTAutograd (where the crash was) with eager kernels, so the noise is
    # drawn by the same RNG calls as in eager mode and σ must match to rounding.
    f = torch.compile(m, dynamic=True, backend="aot_eager") if compiled else m
    torch.manual_seed(1)
    sigmas = []
    for b in (2, 3, 2)[:steps]:  # two batch sizes: the dynamic batch is exercised
        m.zero_grad()
        first(f(example(kind, b))).pow(2).sum().backward()
        sigmas.append(m.init_state.noise_scale.clone())
    return torch.stack(sigmas), [p.grad.clone() for p in m.init_state.parameters()]


@pytest.mark.parametrize("kind", [*RNNS, *CELLS])
def test_compile_dynamic_adaptive_trains_and_updates_sigma_as_eager(kind):
    eager_sigma, eager_grads = _adaptive_steps(kind, compiled=False)
    sigma, grads = _adaptive_steps(kind, compiled=True)
    # σ moved away from noise_std (the update ran) ... and exactly as in eager mode.
    assert not torch.allclose(eager_sigma[-1], torch.full_like(eager_sigma[-1], 0.3))
    torch.testing.assert_close(sigma, eager_sigma, rtol=1e-5, atol=1e-7)
    for g, e in zip(grads, eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", list(RNNS))
def test_compile_dynamic_encoder_matches_eager(kind):
    torch.manual_seed(0)
    m = getattr(initstate, kind)(3, 4, num_layers=2, init="encoder").train()
    f = torch.compile(m, dynamic=True, backend="aot_eager")
    for b in (2, 3):
        x = example(kind, b)
        m.zero_grad()
        first(m(x)).pow(2).sum().backward()
        want = [p.grad.clone() for p in m.init_state.parameters()]
        m.zero_grad()
        out = f(x)
        torch.testing.assert_close(first(out), first(m(x)))
        first(out).pow(2).sum().backward()
        for p, w in zip(m.init_state.parameters(), want):
            torch.testing.assert_close(p.grad, w)


# --- 2. a non-finite backward, and the GradScaler's loss scale ------------------------------------


def _overflow_run(overflow: bool):
    torch.manual_seed(0)
    m = initstate.GRU(3, 4, init="adaptive", adaptive_decay=0.9).train()
    x = torch.randn(5, 2, 3)
    m(x)[0].mean().backward()
    out = m(x)[0].mean()  # drawn in both runs: the noise streams stay aligned
    if overflow:
        (out * 1e39).backward()  # float32 overflows: an inf gradient reaches h0
    for _ in range(20):
        m(x)[0].mean().backward()
    return m


def test_a_non_finite_backward_is_ignored():
    """The issue's example: one overflowing backward used to make σ NaN for good."""
    got, want = _overflow_run(True), _overflow_run(False)
    assert torch.isfinite(got.init_state.noise_scale).all()
    torch.testing.assert_close(got.init_state.grad_ema, want.init_state.grad_ema, rtol=1e-6, atol=0)
    torch.testing.assert_close(got.init_state.grad_ref, want.init_state.grad_ref, rtol=1e-6, atol=0)
    assert torch.isfinite(got(torch.randn(5, 2, 3))[0]).all()


def _amp_run(scaled: bool, tell_strategy: bool = True):
    torch.manual_seed(0)
    m = initstate.LSTM(3, 4, init="adaptive", adaptive_decay=0.5).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    # The scale doubles every step (16 → 512), as the run saw.
    scaler = torch.amp.GradScaler("cpu", init_scale=16.0, growth_interval=1)
    if scaled and tell_strategy:
        assert use_grad_scaler(m, scaler) == 1
    x = torch.randn(5, 2, 3)
    torch.manual_seed(1)
    sigmas = []
    for _ in range(6):
        opt.zero_grad()
        loss = m(x)[0].pow(2).mean()
        if scaled:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sigmas.append(m.init_state.noise_scale.clone())
    return torch.stack(sigmas), scaler.get_scale()


def test_sigma_measures_the_unscaled_error_under_grad_scaler():
    want, _ = _amp_run(scaled=False)
    got, final_scale = _amp_run(scaled=True)
    assert final_scale == 16.0 * 2**6  # the scale really grew
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # Without telling the strategy, σ follows the scale (what the issue saw): the reason for the API.
    blind, _ = _amp_run(scaled=True, tell_strategy=False)
    assert (blind[-1] > 10 * want[-1]).all()


def test_the_grad_scaler_is_not_pickled_with_the_model():
    import copy

    m = initstate.GRU(3, 4, init="adaptive")
    use_grad_scaler(m, torch.amp.GradScaler("cpu"))
    assert copy.deepcopy(m).init_state.grad_scaler is None and m.init_state.grad_scaler is not None
    with pytest.raises(TypeError, match="GradScaler"):
        m.init_state.set_grad_scaler(2.0)


# --- 3. quantize_dynamic ---------------------------------------------------------------------------


@pytest.fixture
def no_deprecation():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization is deprecated
        yield


def test_torch_nn_lstm_is_quantized_by_quantize_dynamic(no_deprecation):
    """The reference behaviour ours cannot follow (quantize_dynamic swaps exact types)."""
    q = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.LSTM(3, 4)))
    assert type(q[0]) is torch.ao.nn.quantized.dynamic.LSTM


def test_quantize_dynamic_is_loud_and_the_pointer_works(no_deprecation):
    m = initstate.LSTM(3, 4, init="learned", learned_init="normal")
    # The default call cannot swap our subclass: it says so instead of a silent float model.
    with pytest.warns(UserWarning, match="LSTM was left in floating point.*quantize_dynamic"):
        torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(3, 3), m))
    # Asked for explicitly (by type, by name or through a parent's qconfig): one clear error.
    for spec in ({initstate.LSTM}, {"1"}):
        with pytest.raises(RuntimeError, match=r"cannot quantize initstate modules.*what works"):
            torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(3, 3), m), spec)
    # The pointer in the message works: a quantized torch.nn copy run from our state.
    ref = nn.LSTM(3, 4)
    ref.load_state_dict(m.state_dict(), strict=False)
    q = torch.ao.quantization.quantize_dynamic(ref)
    x = torch.randn(6, 2, 3)
    torch.testing.assert_close(q(x, m.eval().initial_state(2))[0], m(x)[0], rtol=0, atol=0.05)


# --- 4. an empty batch ----------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["adaptive", "learned_noisy", "noisy", "learned"])
@pytest.mark.parametrize("kind", [*RNNS, *CELLS])
def test_empty_batch_trains_like_torch_nn(kind, init):
    m, ref = getattr(initstate, kind)(3, 4, init=init).train(), {**RNNS, **CELLS}[kind](3, 4)
    x = example(kind, batch=0)
    want = ref(x)
    out = m(x)
    assert [t.shape for t in flat(out)] == [t.shape for t in flat(want)]
    first(out).sum().backward()  # used to fail: "cannot reshape tensor of 0 elements"
    if init == "adaptive":  # nothing observed: σ stays at noise_std
        assert torch.equal(m.init_state.noise_scale, torch.full_like(m.init_state.noise_scale, 0.3))
        assert not m.init_state.grad_ref.any()


# --- 5. torch.func.vmap(randomness="different") -----------------------------------------------------


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # torch's own vmap fallback
@pytest.mark.parametrize("init", ["noisy", "learned_noisy", "adaptive"])
@pytest.mark.parametrize("kind", ["GRUCell", "RNNCell"])
def test_vmap_randomness_different_draws_noise_per_sample(kind, init):
    # Only these: torch.nn itself has no vmap rule for aten::lstm_cell or the fused gru/lstm/rnn.
    m = getattr(initstate, kind)(3, 4, init=init, noise_std=0.5).train()
    x = torch.randn(2, 3).expand(8, 2, 3)  # 8 identical samples
    out = vmap(m, randomness="different")(x)  # used to fail: in-place normal_
    assert out.shape == (8, 2, 4)
    assert all(not torch.equal(out[0], out[k]) for k in range(1, 8))  # each sample its own noise
    same = vmap(m, randomness="same")(x)
    assert all(torch.equal(same[0], same[k]) for k in range(1, 8))
    # Evaluation mode has no noise: every sample is torch.nn's result from the eval state.
    m.eval()
    ref = CELLS[kind](3, 4)
    ref.load_state_dict(m.state_dict(), strict=False)
    ev = vmap(m, randomness="different")(x)
    torch.testing.assert_close(ev, ref(x[0], m.initial_state(2)).expand(8, 2, 4))


def test_the_host_and_device_updates_of_sigma_agree():
    """The CPU path (Python floats) and the GPU path (branch-free tensor ops) are one update.

    Both are fed the same sequence of per-row errors, rows selections, a non-finite and an empty
    observation and a loss scale; the buffers must agree (this runs the device path on the CPU).
    """
    host = initstate.GRU(3, 4, init="adaptive", adaptive_decay=0.7).init_state
    device = initstate.GRU(3, 4, init="adaptive", adaptive_decay=0.7).init_state
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    scaler.scale(torch.ones(()))  # creates the scale tensor
    T, F = True, False
    feed = [
        (torch.tensor([0.0, 0.0]), None),  # zero error: no reference yet
        (torch.tensor([1.0, 3.0]), None),  # the reference: 2.0
        (torch.tensor([float("inf"), 1.0]), None),  # non-finite: ignored
        (torch.tensor([5.0, float("nan")]), torch.tensor([T, F])),  # the carried row's NaN is left out
        (torch.tensor([4.0, 4.0]), torch.tensor([F, F])),  # no row starts: nothing seen
        (torch.tensor([16.0, 8.0]), None),  # seen through a loss scale of 8: 1.5
    ]
    for k, (err_rows, rows) in enumerate(feed):
        if k == len(feed) - 1:
            host.set_grad_scaler(scaler)
            device.set_grad_scaler(scaler)
        host._update_on_host(0, err_rows, rows)
        device._update_on_device(0, err_rows, rows)
        torch.testing.assert_close(host.grad_ema, device.grad_ema, rtol=1e-6, atol=0)
        torch.testing.assert_close(host.grad_ref, device.grad_ref, rtol=1e-6, atol=0)
    # By hand: ref 2.0; 0.7·2 + 0.3·5 = 2.9; then 0.7·2.9 + 0.3·1.5 = 2.48.
    want_ema = 0.7 * (0.7 * 2.0 + 0.3 * 5.0) + 0.3 * 1.5
    assert host.grad_ref.item() == pytest.approx(2.0) and host.grad_ema.item() == pytest.approx(want_ema)
