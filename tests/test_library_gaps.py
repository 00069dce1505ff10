"""reset_parameters, deferred construction, wrong-rank input, device/dtype, aliasing, torch.func.

Issue 11, items 2, 6 and 7 (reset_rows's gaps of item 7 are in ``test_library_tbptt.py``).
"""

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad

import initstate

PAIRS = {
    "LSTM": (initstate.LSTM, nn.LSTM),
    "GRU": (initstate.GRU, nn.GRU),
    "RNN": (initstate.RNN, nn.RNN),
    "LSTMCell": (initstate.LSTMCell, nn.LSTMCell),
    "GRUCell": (initstate.GRUCell, nn.GRUCell),
    "RNNCell": (initstate.RNNCell, nn.RNNCell),
}


# --- item 2: reset_parameters -------------------------------------------------------------------


@pytest.mark.parametrize("init", ["zero", "learned", "learned_noisy", "adaptive"])
@pytest.mark.parametrize("kind", list(PAIRS))
def test_reset_parameters_resets_torch_weights_as_torch_and_the_strategy_to_its_init(kind, init):
    ours_cls, ref_cls = PAIRS[kind]
    m, ref = ours_cls(3, 4, init=init), ref_cls(3, 4)
    with torch.no_grad():
        for p in m.init_state.parameters():
            p.fill_(5.0)
        for b in m.init_state.buffers():
            b.fill_(-1.0)
    torch.manual_seed(7)
    m.reset_parameters()
    torch.manual_seed(7)
    ref.reset_parameters()
    # torch's weights: drawn exactly as torch.nn draws them.
    for k, v in ref.state_dict().items():
        assert torch.equal(m.state_dict()[k], v), k
    # The strategy: back at its own starting value (learned_init="zeros"), not uniform draws.
    for p in m.init_state.parameters():
        assert not p.any()
    for b in m.init_state.buffers():
        assert not b.any()


def test_reset_parameters_redraws_a_normal_learned_init():
    """N(0, 0.1²) redraws: neither torch's uniform(±1/sqrt(H)) of the weights nor the old values."""
    m = initstate.GRU(3, 100, num_layers=3, init="learned", learned_init="normal")  # 300 draws
    before = m.init_state.h0.detach().clone()
    m.reset_parameters()
    h0 = m.init_state.h0.detach()
    assert not torch.equal(h0, before)
    # uniform(-0.5, 0.5) has std 0.289 and uniform(±0.1) std 0.058; N(0, 0.1²) over 300 draws
    # has std 0.1 ± 0.004 (one SE), and ~5% of its draws beyond ±0.2, which no uniform(±0.2) has.
    assert 0.085 < h0.std().item() < 0.115
    assert abs(h0.mean().item()) < 0.02
    tail = (h0.abs() > 0.2).float().mean().item()
    assert 0.02 < tail < 0.09


@pytest.mark.parametrize("kind", ["LSTM", "GRUCell"])
def test_deferred_construction_meta_to_empty_reset_parameters(kind):
    ours_cls, _ = PAIRS[kind]
    m = ours_cls(3, 4, init="adaptive", device="meta")
    assert m.init_state.h0.device.type == "meta" and m.init_state.grad_ema.device.type == "meta"
    m.to_empty(device="cpu")
    with torch.no_grad():  # what uninitialised memory may hold: a negative grad_ref froze the EMA
        m.init_state.grad_ref.fill_(-3.0)
        m.init_state.grad_ema.fill_(float("nan"))
    m.reset_parameters()
    assert not m.init_state.grad_ref.any() and not m.init_state.grad_ema.any()
    assert not m.init_state.h0.any()
    m.train()
    x = torch.randn(5, 2, 3) if kind == "LSTM" else torch.randn(2, 3)
    out = m(x)
    (out[0] if isinstance(out, tuple) else out).pow(2).sum().backward()
    assert (m.init_state.grad_ref > 0).all()  # the EMA runs again


# --- item 6: wrong-rank input -------------------------------------------------------------------


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - we compare whatever torch.nn raises
        return type(e), str(e)
    return None


@pytest.mark.parametrize("init", ["zero", "learned"])
@pytest.mark.parametrize("kind", list(PAIRS))
def test_wrong_rank_input_raises_torch_nn_error(kind, init):
    ours_cls, ref_cls = PAIRS[kind]
    m, ref = ours_cls(3, 4, init=init), ref_cls(3, 4)
    bad = [torch.tensor(1.0), torch.randn(2, 2, 2, 3)] + ([torch.randn(3)] if "Cell" not in kind else [])
    for x in bad:
        expected = _error(lambda x=x: ref(x))
        assert expected is not None and expected[0] is ValueError, expected
        assert _error(lambda x=x: m(x)) == expected


# --- item 7: small gaps -------------------------------------------------------------------------


def test_positional_device_and_dtype_reach_the_strategy():
    m = initstate.GRUCell(3, 4, True, "meta", init="learned")
    assert m.init_state.h0.device == m.weight_ih.device == torch.device("meta")
    m = initstate.GRUCell(3, 4, True, None, torch.float64, init="adaptive")
    assert m.init_state.h0.dtype == m.weight_ih.dtype == torch.float64
    ref = nn.LSTM(3, 4, 1, True, False, 0.0, False, 0, None, torch.float64)
    m = initstate.LSTM(3, 4, 1, True, False, 0.0, False, 0, None, torch.float64, init="learned")
    assert m.init_state.h0.dtype == m.weight_ih_l0.dtype == ref.weight_ih_l0.dtype
    out, (h, c) = m(torch.randn(5, 2, 3, dtype=torch.float64))
    assert h.dtype == torch.float64


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "LSTMCell", "GRUCell"])
def test_unbatched_initial_state_does_not_alias_the_parameter(kind):
    m = PAIRS[kind][0](3, 4, init="learned")
    s = m.initial_state()
    parts = s if isinstance(s, tuple) else (s,)
    with torch.no_grad():
        for p in parts:
            p.add_(1.0)  # a user's in-place edit of the returned state ...
    for p in m.init_state.parameters():
        assert not p.any()  # ... leaves h0 (and c0) alone
    # Gradients still reach the parameter through the unbatched path.
    x = torch.randn(5, 3) if "Cell" not in kind else torch.randn(3)
    out = m(x)
    (out[0] if isinstance(out, tuple) else out).sum().backward()
    assert all(p.grad is not None for p in m.init_state.parameters())


@pytest.mark.parametrize("init", ["adaptive", "learned_noisy", "learned"])
def test_torch_func_grad_of_functional_call_in_training_mode(init):
    m = initstate.LSTM(3, 4, init=init).train()
    x = torch.randn(5, 2, 3)
    params = {k: v.detach() for k, v in m.named_parameters()}
    buffers = {k: v.clone() for k, v in m.named_buffers()}

    def loss(p):
        return functional_call(m, (p, buffers), (x,))[0].pow(2).mean()

    torch.manual_seed(3)
    grads = grad(loss)(params)
    # The same noise through ordinary autograd gives the same gradient.
    torch.manual_seed(3)
    m(x)[0].pow(2).mean().backward()
    for k, p in m.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, rtol=1e-5, atol=1e-7)
    # Under a function transform the σ update is skipped (documented): the buffers are untouched.
    for k, b in m.named_buffers():
        assert torch.equal(buffers[k], torch.zeros_like(b))
