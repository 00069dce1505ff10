"""``InitialState.diagnostics()``: what a strategy exposes for monitoring, one documented method
instead of attribute probes. Checked against σ and ē computed by hand from known gradients."""

import math

import pytest
import torch

import initstate
from initstate.strategies import STRATEGIES


@pytest.mark.parametrize("init", ["zero", "noisy", "learned", "learned_noisy"])
def test_strategies_without_extra_state_report_nothing(init):
    lstm = initstate.LSTM(3, 4, init=init)
    assert lstm.init_state.diagnostics() == {}


def test_adaptive_reports_its_sigma_and_error_as_computed_by_hand():
    noise_std, decay, b = 0.5, 0.9, 4
    s = STRATEGIES["adaptive"]([(1, 3), (1, 3)], 1, names=["h0", "c0"], noise_std=noise_std, adaptive_decay=decay)
    s.train()
    w1 = torch.arange(24, dtype=torch.float32).reshape(2, 1, b, 3) / 10  # d loss / d state, per component
    w2 = torch.full((2, 1, b, 3), 0.25)

    def error(g):  # the docstring's e for a (1, B, 3) gradient: mean over rows of RMS(B * row)
        return sum(math.sqrt(sum((b * x) ** 2 for x in g[0, r].tolist()) / 3) for r in range(b)) / b

    for w in (w1, w2):
        h, c = s(b)
        (h * w[0]).sum().add((c * w[1]).sum()).backward()
    d = s.diagnostics()
    assert list(d) == ["noise_scale", "error_ema"]
    for i in range(2):
        e1, e2 = error(w1[i]), error(w2[i])
        ema = decay * e1 + (1 - decay) * e2  # the first observation seeds both e_ref and the EMA
        assert d["error_ema"][i].item() == pytest.approx(ema, rel=1e-5)
        assert d["noise_scale"][i].item() == pytest.approx(noise_std * ema / e1, rel=1e-5)


def test_diagnostics_are_copies():
    s = STRATEGIES["adaptive"]([(2,)], 0, noise_std=0.3)
    s.grad_ema.fill_(2.0)
    s.grad_ref.fill_(1.0)
    d = s.diagnostics()
    d["error_ema"].zero_()
    d["noise_scale"].zero_()
    assert s.grad_ema.item() == 2.0 and s.noise_scale.item() == pytest.approx(0.6)
