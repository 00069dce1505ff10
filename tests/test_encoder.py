"""``init="encoder"``: the initial state computed from each sequence's own first k steps (issue 13).

The reference is a hand computation, row by row: the first k steps, each followed by its validity
flag, zeros (flag 0) for a step the sequence does not have, one tanh hidden layer, a head for h
in the range of the cell's own h (tanh; relu for a relu RNN; linear for a proj_size LSTM) and a
linear one for c. The module must equal torch.nn run from that state.
"""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import initstate
from initstate.strategies import Encoder, build_strategy

RNNS = {"LSTM": (initstate.LSTM, nn.LSTM), "GRU": (initstate.GRU, nn.GRU), "RNN": (initstate.RNN, nn.RNN)}
CELLS = (initstate.LSTMCell, initstate.GRUCell, initstate.RNNCell)


def h_range(module) -> str:
    """The range torch.nn keeps h in, from the module's own arguments (not from the encoder)."""
    if getattr(module, "proj_size", 0) > 0:
        return "identity"  # h = W_hr (o * tanh(c)): unbounded
    return "relu" if getattr(module, "nonlinearity", "tanh") == "relu" else "tanh"


def hand_state(enc: Encoder, rows: list[torch.Tensor], h_act: str = "tanh"):
    """The encoder's state computed by hand, one row at a time.

    ``rows``: one ``(n_b, H_in)`` tensor per sequence, its real steps only. ``h_act``: the head of
    h (``h_range``). Returns one ``(D * num_layers, B, H)`` tensor per state component, as
    torch.nn takes ``hx``.
    """
    acts = {"tanh": torch.tanh, "relu": lambda s: s.clamp_min(0.0), "identity": lambda s: s}
    k, h_in = enc.steps, enc.input_size
    states = [[] for _ in enc.names]
    for seq in rows:
        feats = []
        for t in range(k):
            if t < seq.size(0):
                feats += [seq[t], torch.ones(1)]
            else:  # a missing step: zeros, flagged 0
                feats += [torch.zeros(h_in), torch.zeros(1)]
        z = torch.tanh(enc.hidden.weight @ torch.cat(feats) + enc.hidden.bias)
        for i, name in enumerate(enc.names):
            head = getattr(enc, name)
            s = head.weight @ z + head.bias
            states[i].append((acts[h_act](s) if name == "h0" else s).reshape(enc.shapes[i]))
    return [torch.stack(s, dim=1) for s in states]


def as_hx(parts):
    return tuple(parts) if len(parts) > 1 else parts[0]


def pair(kind, **kw):
    ours_cls, ref_cls = RNNS[kind]
    ours = ours_cls(**kw, init="encoder")
    ref = ref_cls(**kw)
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not missing and all(k.startswith("init_state.") for k in unexpected)
    return ours, ref


def close(a, b):
    if isinstance(a, tuple):
        for x, y in zip(a, b):
            close(x, y)
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", list(RNNS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("length", [3, 8])  # shorter and longer than k = 5
def test_output_equals_torch_nn_from_the_hand_computed_state(kind, batch_first, length):
    kw = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, batch_first=batch_first)
    if kind == "LSTM":
        kw["proj_size"] = 2
    ours, ref = pair(kind, **kw)
    B = 4
    x = torch.randn(B, length, 3) if batch_first else torch.randn(length, B, 3)
    rows = [x[b] if batch_first else x[:, b] for b in range(B)]
    hx = as_hx(hand_state(ours.init_state, rows, h_range(ref)))
    close(ours(x), ref(x, hx))
    close(ours.initial_state(input=x), hx)
    # Shapes exactly as torch.nn expects: (D*num_layers, B, H_out) and (D*num_layers, B, H_cell).
    h = hx[0] if kind == "LSTM" else hx
    assert h.shape == (4, B, 2 if kind == "LSTM" else 5)
    if kind == "LSTM":
        assert hx[1].shape == (4, B, 5)


@pytest.mark.parametrize(
    "kind,kw",
    [("RNN", {"nonlinearity": "relu"}), ("LSTM", {"proj_size": 2}), ("RNN", {}), ("GRU", {}), ("LSTM", {})],
)
def test_the_h_head_keeps_the_range_of_the_cells_own_h(kind, kw):
    """relu RNN: h >= 0; proj_size LSTM: h unbounded; tanh cells: h in (-1, 1) (issue 20)."""
    ours, ref = pair(kind, input_size=3, hidden_size=4, num_layers=2, **kw)
    with torch.no_grad():  # a head whose pre-activation is far outside (-1, 1), of both signs
        ours.init_state.h0.bias.copy_(torch.linspace(-3.0, 3.0, ours.init_state.h0.bias.numel()))
    x = torch.randn(6, 5, 3)
    hx = hand_state(ours.init_state, list(x.transpose(0, 1)), h_range(ref))
    h = ours.initial_state(input=x)
    h = h[0] if kind == "LSTM" else h
    close(h, hx[0])
    close(ours(x), ref(x, as_hx(hx)))
    if h_range(ref) == "relu":
        assert (h >= 0).all() and (h == 0).any() and h.max() > 1
    elif h_range(ref) == "identity":
        assert h.min() < -1 and h.max() > 1
    else:
        assert h.abs().max() < 1


@pytest.mark.parametrize("bad", [[-1, 2, 3], [2.5, 2, 3], [7, 2, 3], [[1, 2, 3]], [1, 2], [True, True, False]])
def test_bad_lengths_raise_one_clear_error(bad):
    m = initstate.GRU(3, 4, batch_first=True, init="encoder")
    x = torch.randn(3, 6, 3)  # B = 3, L = 6
    with pytest.raises(ValueError, match=r"lengths must be a \(B,\) = \(3,\) .*integers in \[0, L\] = \[0, 6\]"):
        m.initial_state(input=x, lengths=torch.tensor(bad))
    # The valid edges: 0 (nothing observed) and L, as a list or a whole-number float tensor.
    m.initial_state(input=x, lengths=[0, 6, 3])
    close(m.initial_state(input=x, lengths=torch.tensor([6.0, 2.0, 3.0])), m.initial_state(input=x, lengths=[6, 2, 3]))


def test_unbatched_input():
    ours, ref = pair("LSTM", input_size=3, hidden_size=4, num_layers=2)
    x = torch.randn(7, 3)
    h, c = hand_state(ours.init_state, [x])
    hx = (h[:, 0], c[:, 0])  # unbatched: (D*num_layers, H)
    close(ours(x), ref(x, hx))
    close(ours.initial_state(input=x), hx)
    # The same sequence as a batch of one gives the same state.
    close(ours.initial_state(input=x[:, None]), (h, c))


@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_rows_each_get_the_state_of_their_own_first_steps(enforce_sorted, batch_first):
    ours, ref = pair("GRU", input_size=3, hidden_size=4, num_layers=2, batch_first=batch_first)
    lengths = torch.tensor([7, 5, 3, 1]) if enforce_sorted else torch.tensor([3, 7, 1, 5])
    B, T = lengths.numel(), int(lengths.max())
    x = torch.randn(B, T, 3)
    data = x if batch_first else x.transpose(0, 1)
    packed = pack_padded_sequence(data, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    rows = [x[b, : lengths[b]] for b in range(B)]
    hx = hand_state(ours.init_state, rows)[0]
    close(ours.initial_state(input=packed), hx)  # rows in the caller's order
    out, h_n = ours(packed)
    out_ref, h_ref = ref(packed, hx)
    close(h_n, h_ref)
    unpack = lambda o: pad_packed_sequence(o, batch_first=batch_first)[0]  # noqa: E731
    close(unpack(out), unpack(out_ref))
    # Each sequence run alone, unpadded, ends in the same state as its row of the packed batch.
    for b in range(B):
        alone = rows[b][None] if batch_first else rows[b][:, None]
        close(ours(alone)[1][:, 0], h_n[:, b])


def test_short_sequences_are_zero_padded_and_flagged():
    ours, _ = pair("LSTM", input_size=2, hidden_size=3)
    x = torch.randn(2, 4, 2)  # L = 2 < k = 5, B = 4, batch_first=False
    close(ours.initial_state(input=x), tuple(hand_state(ours.init_state, list(x.transpose(0, 1)))))
    # A padded tensor with lengths equals the short input itself ...
    padded = torch.cat([x, torch.zeros(3, 4, 2)])
    lengths = torch.tensor([2, 2, 2, 2])
    close(ours.initial_state(input=padded, lengths=lengths), ours.initial_state(input=x))
    # ... while without lengths the zero steps are real observations (flag 1): another state.
    assert not torch.allclose(ours.initial_state(input=padded)[0], ours.initial_state(input=x)[0])
    # Per-row lengths: each row masked after its own length.
    lengths = torch.tensor([5, 1, 3, 0])
    seqs = [padded[: int(n), b] for b, n in enumerate(lengths)]
    close(ours.initial_state(input=padded, lengths=lengths), tuple(hand_state(ours.init_state, seqs)))


@pytest.mark.parametrize("kind", list(RNNS))
def test_gradients_reach_every_encoder_parameter(kind):
    ours, _ = pair(kind, input_size=3, hidden_size=4, num_layers=2)
    names = [n for n, _ in ours.init_state.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "h0.weight", "h0.bias"] + (
        ["c0.weight", "c0.bias"] if kind == "LSTM" else []
    )
    packed = pack_padded_sequence(torch.randn(8, 3, 3), torch.tensor([8, 2, 6]), enforce_sorted=False)
    for x in (torch.randn(9, 3, 3), packed):
        ours.zero_grad()
        out = ours(x)[0]
        (out.data if isinstance(x, type(packed)) else out).pow(2).sum().backward()
        for n, p in ours.init_state.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, n


def test_explicit_hx_overrides_the_encoder():
    ours, ref = pair("LSTM", input_size=3, hidden_size=4)
    calls = []
    ours.init_state.register_forward_hook(lambda *a: calls.append(1))
    x, hx = torch.randn(6, 2, 3), (torch.randn(1, 2, 4), torch.randn(1, 2, 4))
    close(ours(x, hx), ref(x, hx))
    assert not calls  # never called
    ours(x)
    assert calls == [1]


def test_cells_refuse_the_encoder_with_one_clear_error():
    for cls in CELLS:
        with pytest.raises(ValueError, match=r"one step per call.*LSTM/GRU/RNN.*zero, noisy") as e:
            cls(3, 4, init="encoder")
        assert "\n" not in str(e.value) and cls.__name__ in str(e.value)
    # A strategy instance, or one put on a cell after construction, is refused too.
    enc = build_strategy("encoder", [(4,)], 0, names=["h0"], input_size=3)
    with pytest.raises(ValueError, match="one step per call"):
        initstate.GRUCell(3, 4, init=enc)
    cell = initstate.GRUCell(3, 4)
    cell.init_state = enc
    for call in (lambda: cell(torch.randn(2, 3)), lambda: cell.initial_state(input=torch.randn(2, 3))):
        with pytest.raises(ValueError, match="one step per call"):
            call()


def test_initial_state_needs_the_input():
    m = initstate.GRU(3, 4, init="encoder")
    with pytest.raises(ValueError, match=r"needs the input.*initial_state\(input=x\)"):
        m.initial_state(2)
    with pytest.raises(ValueError, match="batch"):
        m.initial_state(3, input=torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match="input="):
        m.initial_state(2, lengths=torch.tensor([1, 2]))


def test_reset_rows_restarts_from_the_chunk_and_leaves_carried_rows_untouched():
    """Truncated BPTT: restarting rows get the encoder state of the chunk where they start."""
    m = initstate.GRU(3, 4, num_layers=2, batch_first=True, init="encoder")
    B, T = 3, 6
    _, state = m(torch.randn(B, T, 3))
    chunk = torch.randn(B, T, 3)
    reset = torch.tensor([True, False, True])
    lengths = torch.tensor([6, 6, 2])  # row 2's new sequence has only 2 steps in this chunk
    hx = initstate.reset_rows(state, m.initial_state(input=chunk, lengths=lengths), reset)
    expected = hand_state(m.init_state, [chunk[0], chunk[1], chunk[2, :2]])[0]
    assert torch.equal(hx[:, 1], state[:, 1])  # carried exactly
    close(hx[:, 0], expected[:, 0])
    close(hx[:, 2], expected[:, 2])
    # A loss on the carried row alone sends the encoder no gradient (nor the previous chunk).
    out, _ = m(chunk, hx)
    out[1].sum().backward()
    for p in m.init_state.parameters():
        assert p.grad is None or not p.grad.any()
    # The other strategies take input= as well (it only gives B), so a loop can always pass it.
    learned = initstate.GRU(3, 4, batch_first=True, init="learned", learned_init="normal")
    assert torch.equal(learned.initial_state(input=chunk, lengths=lengths), learned.initial_state(B))


def test_options_mask_and_validation():
    m = initstate.LSTM(3, 4, init="encoder", encoder_steps=2, encoder_hidden=7, init_mask=(True, False))
    enc = m.init_state
    assert enc.hidden.in_features == 2 * (3 + 1) and enc.hidden.out_features == 7
    assert enc.c0 is None and "init_state.c0.weight" not in m.state_dict()
    h, c = m.initial_state(input=torch.randn(5, 2, 3))
    assert h.abs().sum() > 0 and not c.any()
    # Every component masked: the zero fast path (hx=None to torch.nn), exactly torch's output.
    g, ref = initstate.GRU(3, 4, init="encoder", init_mask=(False,)), nn.GRU(3, 4)
    ref.load_state_dict(g.state_dict(), strict=False)
    x = torch.randn(5, 2, 3)
    assert torch.equal(g(x)[0], ref(x)[0])
    for bad in (0, -1, 2.5, True, "5"):
        with pytest.raises(ValueError, match="encoder_steps"):
            initstate.GRU(3, 4, init="encoder", encoder_steps=bad)
    with pytest.raises(ValueError, match="encoder_hidden"):
        initstate.GRU(3, 4, init="encoder", encoder_hidden=0)
    with pytest.raises(ValueError, match="input_size"):
        build_strategy("encoder", [(1, 4)], 1, names=["h0"])
    with pytest.warns(UserWarning, match="encoder_steps.*no effect.*init='learned'"):
        initstate.GRU(3, 4, init="learned", encoder_steps=3)


def test_reset_parameters_dtype_and_deferred_construction():
    m = initstate.LSTM(3, 4, init="encoder")
    with torch.no_grad():
        for p in m.init_state.parameters():
            p.fill_(5.0)
    m.reset_parameters()
    assert all((p != 5.0).all() for p in m.init_state.parameters())
    m64 = initstate.GRU(3, 4, init="encoder", dtype=torch.float64)
    assert m64.init_state.hidden.weight.dtype == torch.float64
    out, h = m64(torch.randn(6, 2, 3, dtype=torch.float64))
    assert out.dtype == h.dtype == torch.float64
    meta = initstate.GRU(3, 4, init="encoder", device="meta")
    assert meta.init_state.hidden.weight.device.type == "meta"
    meta.to_empty(device="cpu")
    meta.reset_parameters()
    assert torch.isfinite(meta(torch.randn(6, 2, 3))[0]).all()
