"""``init="context"``: the initial state computed from a per-sequence context vector (issue 20).

The reference is a hand computation: slot ``k`` (torch.nn's ``hx`` index, ``layer * D + direction``)
of a component takes rows ``k * H .. (k + 1) * H`` of its head, ``act(W c + b)``, with the activation
written out per case below (tanh for a bounded h, relu for a relu RNN's h, none for an LSTM's c and
a projected h). The module must equal torch.nn run from that state.
"""

import pytest
import torch
from torch import nn
from torch.export import Dim
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import initstate

C = 5  # context size
ACTS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda t: t}
RNNS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
CELLS = {"LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell, "RNNCell": nn.RNNCell}


def pair(kind, **kw):
    """Ours with init="context" and torch.nn with the same weights."""
    torch.manual_seed(0)
    ours = getattr(initstate, kind)(**kw, init="context", context_size=C)
    ref = {**RNNS, **CELLS}[kind](**kw)
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not missing and all(k.startswith("init_state.") for k in unexpected)
    return ours, ref


def hand_state(module, context, acts):
    """One tensor per component, as torch.nn takes hx: act(W c + b), slot by slot, by hand.

    ``context``: ``(B, C)`` or ``(C,)``. ``acts``: one name of :data:`ACTS` per component, ``None``
    for a component that must stay zero.
    """
    strat = module.init_state
    out = []
    for name, shape, act in zip(strat.names, strat.shapes, acts):
        if act is None:
            batch = () if context.dim() == 1 else (context.size(0),)
            out.append(torch.zeros(*shape[:-1], *batch, shape[-1]))
            continue
        w, b, f = getattr(strat, name).weight, getattr(strat, name).bias, ACTS[act]
        if len(shape) == 1:  # a cell: (B, H), no slot axis
            out.append(f(context @ w.T + b))
            continue
        h = shape[1]  # the nn.RNN family: slots first, (D * num_layers, B, H)
        out.append(torch.stack([f(context @ w[k * h:(k + 1) * h].T + b[k * h:(k + 1) * h])
                                for k in range(shape[0])]))
    return tuple(out) if len(out) > 1 else out[0]


def contexts(b):
    # Scaled so that pre-activations cross 0 (relu) and leave (-1, 1) (tanh vs linear).
    return 3 * torch.randn(b, C) if b is not None else 3 * torch.randn(C)


def assert_same(a, b):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# (kind, constructor kwargs, the activation of each component, unbatched)
SEQ_CASES = {
    "lstm_2layer": ("LSTM", dict(num_layers=2), ("tanh", "linear"), False),
    "lstm_batch_first_bidir": ("LSTM", dict(num_layers=2, batch_first=True, bidirectional=True), ("tanh", "linear"), False),
    "lstm_proj_bidir": ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2), ("linear", "linear"), False),
    "lstm_unbatched_bidir": ("LSTM", dict(num_layers=2, bidirectional=True), ("tanh", "linear"), True),
    "lstm_proj_unbatched": ("LSTM", dict(num_layers=3, proj_size=3), ("linear", "linear"), True),
    "gru_batch_first_bidir": ("GRU", dict(num_layers=2, batch_first=True, bidirectional=True), ("tanh",), False),
    "gru_unbatched": ("GRU", dict(num_layers=2), ("tanh",), True),
    "rnn_tanh_bidir": ("RNN", dict(bidirectional=True), ("tanh",), False),
    "rnn_relu_2layer": ("RNN", dict(num_layers=2, nonlinearity="relu", batch_first=True), ("relu",), False),
    "rnn_relu_unbatched": ("RNN", dict(num_layers=2, nonlinearity="relu"), ("relu",), True),
}


@pytest.mark.parametrize("case", list(SEQ_CASES))
def test_sequence_modules_match_torch_from_the_hand_state(case):
    kind, kw, acts, unbatched = SEQ_CASES[case]
    ours, ref = pair(kind, input_size=3, hidden_size=4, **kw)
    T, B = 6, 4
    c = contexts(None if unbatched else B)
    if unbatched:
        x = torch.randn(T, 3)
    else:
        x = torch.randn(B, T, 3) if kw.get("batch_first") else torch.randn(T, B, 3)
    hx = hand_state(ours, c, acts)
    got, want = ours(x, context=c), ref(x, hx)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    assert_same(ours.initial_state(None if unbatched else B, context=c), hx)
    if "relu" in acts:  # the head really is relu: the hand state has both zeros and positives
        assert (hx == 0).any() and (hx > 0).any()


@pytest.mark.parametrize("kind", list(RNNS))
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_packed_input_rows_follow_the_callers_order(kind, enforce_sorted):
    acts = {"LSTM": ("tanh", "linear"), "GRU": ("tanh",), "RNN": ("tanh",)}[kind]
    ours, ref = pair(kind, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
    lengths = torch.tensor([5, 2, 7, 3, 6]) if not enforce_sorted else torch.tensor([7, 6, 5, 3, 2])
    x = torch.randn(5, 7, 3)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    if not enforce_sorted:  # the case in which a row-order mistake shows
        assert not torch.equal(packed.sorted_indices, torch.arange(5))
    c = contexts(5)  # row b is the context of x[b], the caller's order
    out_o, h_o = ours(packed, context=c)
    out_r, h_r = ref(packed, hand_state(ours, c, acts))
    assert_same(pad_packed_sequence(out_o, batch_first=True)[0], pad_packed_sequence(out_r, batch_first=True)[0])
    for a, b in zip(h_o if kind == "LSTM" else (h_o,), h_r if kind == "LSTM" else (h_r,)):
        assert_same(a, b)
    assert_same(ours.initial_state(context=c, input=packed), hand_state(ours, c, acts))


CELL_CASES = {
    "lstmcell": ("LSTMCell", {}, ("tanh", "linear")),
    "grucell": ("GRUCell", {}, ("tanh",)),
    "rnncell_tanh": ("RNNCell", {}, ("tanh",)),
    "rnncell_relu": ("RNNCell", {"nonlinearity": "relu"}, ("relu",)),
}


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("case", list(CELL_CASES))
def test_cells_match_torch_from_the_hand_state(case, batched):
    kind, kw, acts = CELL_CASES[case]
    ours, ref = pair(kind, input_size=3, hidden_size=6, **kw)
    B = 4 if batched else None
    c = contexts(B)
    x = torch.randn(B, 3) if batched else torch.randn(3)
    hx = hand_state(ours, c, acts)
    got, want = ours(x, context=c), ref(x, hx)
    for a, b in zip(got if kind == "LSTMCell" else (got,), want if kind == "LSTMCell" else (want,)):
        assert_same(a, b)
    if kind == "RNNCell" and batched and "relu" in acts:
        assert (hx == 0).any() and (hx > 0).any()


def test_init_mask_keeps_c0_at_zero():
    torch.manual_seed(0)
    ours = initstate.LSTM(3, 4, num_layers=2, init="context", context_size=C, init_mask=(True, False))
    ref = nn.LSTM(3, 4, num_layers=2)
    ref.load_state_dict(ours.state_dict(), strict=False)
    assert ours.init_state.c0 is None
    c, x = contexts(2), torch.randn(5, 2, 3)
    h0, c0 = hand_state(ours, c, ("tanh", None))
    assert_same(ours(x, context=c)[0], ref(x, (h0, c0))[0])


def test_explicit_hx_overrides_the_context():
    ours, ref = pair("LSTM", input_size=3, hidden_size=4, num_layers=2)
    x, c = torch.randn(5, 3, 3), contexts(3)
    hx = (torch.randn(2, 3, 4), torch.randn(2, 3, 4))
    got, want = ours(x, hx, context=c), ref(x, hx)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    assert_same(ours(x, hx)[0], want[0])  # no context needed when hx is given
    cell, ref_cell = pair("GRUCell", input_size=3, hidden_size=4)
    h = torch.randn(3, 4)
    assert_same(cell(torch.randn(3, 3).mul(0), h, context=c), ref_cell(torch.zeros(3, 3), h))


@pytest.mark.parametrize("kind", ["LSTM", "GRUCell"])
def test_export_with_a_dynamic_batch(kind):
    ours, ref = pair(kind, input_size=3, hidden_size=4, **({"num_layers": 2, "batch_first": True,
                                                             "bidirectional": True} if kind == "LSTM" else {}))
    ours.eval()
    acts = ("tanh", "linear") if kind == "LSTM" else ("tanh",)

    def inputs(b):
        return torch.randn(b, 6, 3) if kind == "LSTM" else torch.randn(b, 3)

    batch = Dim("batch", min=1, max=64)
    ep = torch.export.export(
        ours, (inputs(2),), kwargs={"context": contexts(2)},
        dynamic_shapes={"input": {0: batch}, "context": {0: batch}},
    )
    for b in (3, 7):
        x, c = inputs(b), contexts(b)
        got, want = ep.module()(x, context=c), ref(x, hand_state(ours, c, acts))
        flat = (lambda o: [o[0], *o[1]]) if kind == "LSTM" else (lambda o: [o])
        for a, w in zip(flat(got), flat(want)):
            assert_same(a, w)


def test_reset_rows_restarts_only_flagged_rows_from_their_own_context():
    ours, ref = pair("LSTM", input_size=3, hidden_size=4, num_layers=2)
    B = 4
    reset = torch.tensor([True, False, True, False])
    carried = (torch.randn(2, B, 4), torch.randn(2, B, 4))
    x = torch.randn(5, B, 3)
    c = contexts(B).requires_grad_()
    hx = initstate.reset_rows(carried, ours.initial_state(B, context=c), reset)
    out, _ = ours(x, hx, context=c)
    out.pow(2).sum().backward()
    strat = ours.init_state
    grads = [p.grad.clone() for p in strat.parameters()]
    ctx_grad = c.grad.clone()
    strat.zero_grad()

    # Reference: the hand state for the restarted rows, the carried state (no graph) elsewhere.
    c_ref = c.detach().clone().requires_grad_()
    h0, c0 = hand_state(ours, c_ref, ("tanh", "linear"))
    mixed = tuple(torch.stack([s[:, b] if reset[b] else k[:, b] for b in range(B)], dim=1)
                  for s, k in zip((h0, c0), carried))
    assert_same(hx[0], mixed[0])
    assert_same(hx[1], mixed[1])
    assert torch.equal(hx[0][:, 1], carried[0][:, 1]) and torch.equal(hx[1][:, 3], carried[1][:, 3])
    ref(x, mixed)[0].pow(2).sum().backward()
    for got, p in zip(grads, strat.parameters()):
        assert_same(got, p.grad)
    assert_same(ctx_grad, c_ref.grad)
    assert (ctx_grad[~reset] == 0).all() and (ctx_grad[reset] != 0).all()
    # rows= is accepted (the state of a row depends on its own context only) and checked.
    assert_same(ours.initial_state(B, rows=reset, context=c), ours.initial_state(B, context=c))
    with pytest.raises(ValueError, match="rows must be a"):
        ours.initial_state(B, rows=[True, False], context=c)


def test_missing_context_is_one_clear_error():
    m = initstate.GRU(3, 4, init="context", context_size=C)
    msg = r"pass context= of shape \(B, C\) = \(2, 5\) to forward \(or initial_state\), or pass hx"
    with pytest.raises(ValueError, match=msg):
        m(torch.randn(6, 2, 3))
    with pytest.raises(ValueError, match=msg):
        m.initial_state(2)
    with pytest.raises(ValueError, match=r"context= of shape \(5,\)"):
        m(torch.randn(6, 3))  # unbatched
    with pytest.raises(ValueError, match=r"context= of shape \(B, C\) = \(4, 5\)"):
        initstate.LSTMCell(3, 4, init="context", context_size=C)(torch.randn(4, 3))


@pytest.mark.parametrize(
    "x,context,match",
    [
        (torch.randn(6, 2, 3), torch.randn(3, C), r"shape \(B, C\) = \(2, 5\) for this input, got \(3, 5\)"),
        (torch.randn(6, 2, 3), torch.randn(2, C + 1), r"\(B, C\) = \(2, 5\) for this input, got \(2, 6\)"),
        (torch.randn(6, 2, 3), torch.randn(C), r"\(B, C\) = \(2, 5\) for this input, got \(5,\)"),
        (torch.randn(6, 2, 3), torch.randn(2, 1, C), r"got \(2, 1, 5\)"),
        (torch.randn(6, 3), torch.randn(1, C), r"shape \(5,\) for unbatched input, got \(1, 5\)"),
        (torch.randn(6, 2, 3), torch.ones(2, C, dtype=torch.long), "floating-point tensor.*torch.int64"),
        (torch.randn(6, 2, 3), [[0.0] * C] * 2, "floating-point tensor.*got list"),
    ],
)
def test_context_of_the_wrong_shape_or_type_is_refused(x, context, match):
    m = initstate.GRU(3, 4, init="context", context_size=C)
    with pytest.raises(ValueError, match=match):
        m(x, context=context)


def test_packed_input_with_a_context_of_another_batch_is_refused():
    m = initstate.LSTM(3, 4, init="context", context_size=C)
    packed = pack_padded_sequence(torch.randn(5, 3, 3), torch.tensor([5, 2, 4]), enforce_sorted=False)
    with pytest.raises(ValueError, match=r"\(B, C\) = \(3, 5\) for this input, got \(4, 5\)"):
        m(packed, context=torch.randn(4, C))


def test_context_with_another_strategy_is_refused():
    m = initstate.LSTM(3, 4, init="learned")
    with pytest.raises(ValueError, match="context= is read only by init='context'; this LSTM has init='learned'"):
        m(torch.randn(5, 2, 3), context=torch.randn(2, C))
    with pytest.raises(ValueError, match="read only by init='context'"):
        m.initial_state(2, context=torch.randn(2, C))
    with pytest.raises(ValueError, match="this RNNCell has init='zero'"):
        initstate.RNNCell(3, 4)(torch.randn(2, 3), context=torch.randn(2, C))


@pytest.mark.parametrize("bad", [None, 0, -2, True, 2.5, "5"])
def test_context_size_must_be_a_positive_int(bad):
    match = "needs context_size=C" if bad is None else "context_size must be a positive int"
    with pytest.raises(ValueError, match=match):
        initstate.LSTM(3, 4, init="context", context_size=bad)


def test_context_size_without_the_context_strategy_warns():
    with pytest.warns(UserWarning, match="context_size=5 has no effect with init='learned'"):
        initstate.GRU(3, 4, init="learned", context_size=5)


def test_the_heads_start_like_nn_linear_and_reset_redraws_them():
    m = initstate.LSTM(3, 4, num_layers=2, bidirectional=True, init="context", context_size=C)
    head = m.init_state.c0
    assert head.weight.shape == (2 * 2 * 4, C)
    bound = 1 / C**0.5  # nn.Linear's kaiming-uniform bound for fan_in = C
    assert head.weight.abs().max() <= bound and head.weight.abs().max() > 0.5 * bound
    before = head.weight.detach().clone()
    m.reset_parameters()
    assert not torch.equal(before, head.weight)
    assert "context" not in initstate.INIT_CHOICES and initstate.STRATEGIES["context"].needs_context
