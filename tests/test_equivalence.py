"""initstate modules against torch.nn itself: same weights, same hx → identical outputs."""

import random

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import initstate
from initstate.strategies import STRATEGIES

RNN_CLASSES = {"LSTM": (initstate.LSTM, nn.LSTM), "GRU": (initstate.GRU, nn.GRU), "RNN": (initstate.RNN, nn.RNN)}
CELL_CLASSES = {
    "LSTMCell": (initstate.LSTMCell, nn.LSTMCell),
    "GRUCell": (initstate.GRUCell, nn.GRUCell),
    "RNNCell": (initstate.RNNCell, nn.RNNCell),
}


def random_rnn_kwargs(kind: str, rng: random.Random) -> dict:
    kw = dict(
        input_size=rng.randint(1, 6),
        hidden_size=rng.randint(1, 7),
        num_layers=rng.randint(1, 3),
        bias=rng.random() < 0.8,
        batch_first=rng.random() < 0.5,
        bidirectional=rng.random() < 0.5,
    )
    if kind == "LSTM" and rng.random() < 0.4 and kw["hidden_size"] > 1:
        kw["proj_size"] = rng.randint(1, kw["hidden_size"] - 1)
    if kind == "RNN":
        kw["nonlinearity"] = rng.choice(["tanh", "relu"])
    return kw


def pair(kind: str, kw: dict, init: str):
    ours_cls, ref_cls = {**RNN_CLASSES, **CELL_CLASSES}[kind]
    # learned_init only where the strategy has a learned state (elsewhere it has no effect and warns).
    extra = {"learned_init": "normal"} if init in ("learned", "learned_noisy", "adaptive") else {}
    ours = ours_cls(**kw, init=init, **extra)
    ref = ref_cls(**kw)
    # strict=False: ours has the strategy's extra keys; every torch.nn key must load.
    missing, unexpected = ours.load_state_dict(ref.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("init_state.") for k in missing)
    return ours, ref


def assert_same(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        torch.testing.assert_close(a, b, rtol=0, atol=0)


CASES = [(kind, seed, init) for kind in RNN_CLASSES for seed in range(12) for init in initstate.INIT_CHOICES]


@pytest.mark.parametrize("kind,seed,init", CASES)
def test_rnn_matches_torch(kind, seed, init):
    rng = random.Random(seed * 31 + len(kind))
    kw = random_rnn_kwargs(kind, rng)
    ours, ref = pair(kind, kw, init)
    ours.train(rng.random() < 0.5)
    ref.train(ours.training)
    T, B = rng.randint(1, 6), rng.randint(1, 5)
    unbatched = rng.random() < 0.25
    if unbatched:
        x = torch.randn(T, kw["input_size"])
    else:
        x = torch.randn(B, T, kw["input_size"]) if kw["batch_first"] else torch.randn(T, B, kw["input_size"])
    if init == "encoder":
        hx = ours.initial_state(input=x)  # computed from x's first steps (test_encoder.py checks how)
    else:
        hx = ours.initial_state(None if unbatched else B)
        if init in ("zero", "learned") or not ours.training:
            # input= only gives B to the strategies that do not read it: the same state.
            assert_same(ours.initial_state(input=x), hx)
    # With the strategy's own state as explicit hx, both modules compute the same thing.
    assert_same(ours(x, hx), ref(x, hx))
    if init == "zero" or (init == "noisy" and not ours.training):
        # hx=None is torch's zero state exactly.
        assert_same(ours(x), ref(x))
    if init in ("learned", "encoder") or not ours.training:
        # Deterministic strategies: hx=None uses initial_state() (the encoder's: of this input).
        assert_same(ours(x), ref(x, hx))


@pytest.mark.parametrize("kind", list(RNN_CLASSES))
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_matches_torch(kind, enforce_sorted):
    rng = random.Random(7)
    for _ in range(6):
        kw = random_rnn_kwargs(kind, rng)
        ours, ref = pair(kind, kw, "learned")
        B, T = rng.randint(1, 5), rng.randint(1, 7)
        lengths = torch.randint(1, T + 1, (B,))
        if enforce_sorted:
            lengths = lengths.sort(descending=True).values
        x = torch.randn(B, T, kw["input_size"]) if kw["batch_first"] else torch.randn(T, B, kw["input_size"])
        packed = pack_padded_sequence(x, lengths, batch_first=kw["batch_first"], enforce_sorted=enforce_sorted)
        hx = ours.initial_state(B)
        out_o, h_o = ours(packed)  # the learned state, in the caller's batch order
        out_r, h_r = ref(packed, hx)
        assert_same(h_o, h_r)
        assert_same(pad_packed_sequence(out_o)[0], pad_packed_sequence(out_r)[0])


@pytest.mark.parametrize("kind", list(CELL_CLASSES))
@pytest.mark.parametrize("init", initstate.INIT_CHOICES)
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, init, batched):
    if STRATEGIES[init].needs_input:
        # A cell sees one step per call, not a sequence's first steps: refused at construction.
        with pytest.raises(ValueError, match="one step per call"):
            CELL_CLASSES[kind][0](3, 4, init=init)
        return
    for seed in range(4):
        rng = random.Random(seed)
        kw = dict(input_size=rng.randint(1, 6), hidden_size=rng.randint(1, 7), bias=rng.random() < 0.7)
        if kind == "RNNCell":
            kw["nonlinearity"] = rng.choice(["tanh", "relu"])
        ours, ref = pair(kind, kw, init)
        ours.eval()
        B = rng.randint(1, 5) if batched else None
        x = torch.randn(B, kw["input_size"]) if batched else torch.randn(kw["input_size"])
        hx = ours.initial_state(B)
        assert_same(ours(x, hx), ref(x, hx))
        assert_same(ours(x), ref(x, hx))  # eval mode: hx=None is initial_state()


@pytest.mark.parametrize("kind", list(RNN_CLASSES))
def test_initial_state_shapes(kind):
    kw = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    if kind == "LSTM":
        kw["proj_size"] = 2
    x = torch.randn(6, 4, 3)
    for init in initstate.INIT_CHOICES:
        m = RNN_CLASSES[kind][0](**kw, init=init)
        # The encoder's state needs the input (batched x, unbatched x[:, 0]); the others do not.
        needs = STRATEGIES[init].needs_input
        s = m.initial_state(input=x) if needs else m.initial_state(4)
        unbatched = m.initial_state(input=x[:, 0]) if needs else m.initial_state()
        if kind == "LSTM":
            assert s[0].shape == (4, 4, 2) and s[1].shape == (4, 4, 5)
            assert unbatched[0].shape == (4, 2)
        else:
            assert s.shape == (4, 4, 5)
            assert unbatched.shape == (4, 5)


def test_cell_initial_state_shapes():
    assert [t.shape for t in initstate.LSTMCell(3, 5, init="learned").initial_state(2)] == [(2, 5), (2, 5)]
    assert initstate.GRUCell(3, 5, init="noisy").initial_state(2).shape == (2, 5)
    assert initstate.RNNCell(3, 5).initial_state().shape == (5,)


def test_explicit_hx_overrides_strategy():
    m = initstate.GRU(3, 4, init="learned")
    with torch.no_grad():
        m.init_state.h0.fill_(5.0)
    ref = nn.GRU(3, 4)
    ref.load_state_dict(m.state_dict(), strict=False)
    x, h = torch.randn(6, 2, 3), torch.randn(1, 2, 4)
    assert_same(m(x, h), ref(x, h))
    assert not torch.equal(m(x)[0], ref(x)[0])
