"""Truncated BPTT: ``reset_rows`` and the ``adaptive`` σ when only some rows start a sequence.

Issue 11, item 1: in a stateful batch the carried rows send a zero gradient to the initial state;
σ must follow only the rows that actually start from it, and a chunk where none starts must leave
σ unchanged. Item 7: ``reset_rows`` on cell states where ``B == H``, and Python lists as ``reset``.
"""

import pytest
import torch
from torch import nn

import initstate


def _start_error(g: torch.Tensor, rows: torch.Tensor, batch_dim: int = 1) -> torch.Tensor:
    """Hand computation: per-sequence RMS of ``∂loss/∂h0`` × B, averaged over the starting rows."""
    b = g.size(batch_dim)
    per_seq = g.movedim(batch_dim, 0).reshape(b, -1) * b
    return per_seq.pow(2).mean(1).sqrt()[rows].mean()


def test_adaptive_sigma_follows_only_starting_rows_hand_computed_ema():
    torch.manual_seed(0)
    B, decay = 4, 0.5
    m = initstate.GRU(3, 5, num_layers=2, init="adaptive", noise_std=0.3, adaptive_decay=decay).train()
    strat = m.init_state
    T, F = True, False
    schedule = [[T, T, T, T], [T, F, F, F]] + [[F, F, F, F]] * 10 + [[F, T, F, T], [F, F, F, F]]
    state, ema, ref = None, None, None
    for reset in schedule:
        reset = torch.tensor(reset)
        sigma_before = strat.noise_scale.clone()
        # Exactly the harness's path: initial_state every chunk, then reset_rows.
        init = m.initial_state(B)
        seen = {}
        init.register_hook(lambda g, seen=seen: seen.__setitem__("g", g))
        hx = initstate.reset_rows(state, init, reset)
        out, state = m(torch.randn(6, B, 3), hx)
        out.pow(2).mean().backward()
        m.zero_grad()
        if reset.any():
            err = _start_error(seen["g"], reset)
            ref, ema = (err, err) if ref is None else (ref, decay * ema + (1 - decay) * err)
            torch.testing.assert_close(strat.grad_ref, ref.reshape(1), rtol=1e-5, atol=0)
            torch.testing.assert_close(strat.grad_ema, ema.reshape(1), rtol=1e-5, atol=0)
        else:
            # No row starts a sequence: nothing was observed, σ must not move at all.
            assert torch.equal(strat.noise_scale, sigma_before)
    assert strat.noise_scale.item() == pytest.approx(0.3 * (ema / ref).item(), rel=1e-5)


def test_adaptive_ten_chunks_without_a_start_keep_sigma():
    """The issue's example: decay 0.9, 10 chunks with no start must not shrink σ to 0.3·0.9¹⁰."""
    m = initstate.LSTM(3, 4, init="adaptive", adaptive_decay=0.9).train()
    state = None
    for c in range(11):
        reset = torch.full((4,), c == 0)
        hx = initstate.reset_rows(state, m.initial_state(4), reset)
        out, state = m(torch.randn(5, 4, 3), hx)
        out.sum().backward()
        if c == 0:
            first = m.init_state.noise_scale.clone()
    torch.testing.assert_close(m.init_state.noise_scale, first, rtol=0, atol=0)
    assert first.tolist() == pytest.approx([0.3, 0.3])


def test_initial_state_rows_argument_for_hand_mixed_states():
    """``initial_state(B, rows=mask)``: for users who mix states themselves (no reset_rows)."""
    torch.manual_seed(1)
    B = 5
    m = initstate.LSTMCell(3, 4, init="adaptive", adaptive_decay=0.5).train()
    rows = torch.tensor([False, True, False, False, True])
    h0, c0 = m.initial_state(B, rows=rows)
    seen = {}
    h0.register_hook(lambda g: seen.__setitem__("g", g))
    h1, c1 = m(torch.randn(B, 3), (h0, c0))
    (h1.pow(2).sum() + c1.sum()).backward()
    expected = _start_error(seen["g"], rows, batch_dim=0)
    torch.testing.assert_close(m.init_state.grad_ref[0], expected, rtol=1e-5, atol=0)
    # No row uses the state: nothing is observed.
    before = m.init_state.grad_ema.clone()
    h0, c0 = m.initial_state(B, rows=[False] * B)
    m(torch.randn(B, 3), (h0, c0))[0].sum().backward()
    assert torch.equal(m.init_state.grad_ema, before)
    with pytest.raises(ValueError, match="rows"):
        m.initial_state(B, rows=torch.ones(B + 1, dtype=torch.bool))


def test_reset_rows_all_rows_when_nothing_is_carried():
    """``carried=None``: every row starts from the initial state, so every row is observed."""
    m = initstate.GRU(3, 4, init="adaptive").train()
    init = m.initial_state(3)
    seen = {}
    init.register_hook(lambda g: seen.__setitem__("g", g))
    hx = initstate.reset_rows(None, init, torch.tensor([True, False, False]))
    m(torch.randn(2, 3, 3), hx)[0].pow(2).sum().backward()
    torch.testing.assert_close(m.init_state.grad_ref[0], _start_error(seen["g"], torch.ones(3, dtype=torch.bool)))


@pytest.mark.parametrize("init", ["learned", "learned_noisy", "noisy", "zero"])
def test_other_strategies_accept_rows_and_ignore_it(init):
    m = initstate.LSTM(3, 4, init=init).eval()
    rows = torch.tensor([True, False])
    for a, b in zip(m.initial_state(2, rows=rows), m.initial_state(2)):
        assert torch.equal(a, b)


def test_reset_rows_cell_state_with_batch_equal_hidden():
    """A ``(B, H)`` cell state with ``B == H``: the default must not reset columns instead of rows."""
    carried, initial = torch.zeros(4, 4), torch.ones(4, 4)
    reset = torch.tensor([True, False, True, False])
    out = initstate.reset_rows(carried, initial, reset)
    expected = torch.where(reset[:, None], initial, carried)  # rows, the cell's batch dimension
    assert torch.equal(out, expected)
    # The nn.RNN family (3-D states) still resets along dim 1.
    h = initstate.reset_rows(torch.zeros(2, 4, 4), torch.ones(2, 4, 4), reset)
    assert torch.equal(h, torch.where(reset[None, :, None], 1.0, 0.0).expand(2, 4, 4))
    # A batch_dim whose size does not match reset is an error, not a silent broadcast.
    with pytest.raises(ValueError, match="batch"):
        initstate.reset_rows(torch.zeros(3, 4), torch.ones(3, 4), reset, batch_dim=0)


def test_reset_rows_accepts_a_python_list():
    cell = nn.LSTMCell(3, 4)
    h, c = torch.randn(2, 4), torch.randn(2, 4)
    init = (torch.zeros(2, 4), torch.zeros(2, 4))
    out = initstate.reset_rows((h, c), init, [True, False])
    assert torch.equal(out[0][0], init[0][0]) and torch.equal(out[0][1], h[1])
    # The mixed state is a valid hx for torch.nn itself.
    cell(torch.randn(2, 3), out)
