"""torch.export with a dynamic batch, torch.jit.trace at another batch size, torch.jit.script.

Issue 11, items 3 and 4. torch.nn's modules export with a dynamic batch and trace with a batch
that follows the input; ours must do the same for every class and strategy (noise off in eval).
TorchScript is not supported: scripting raises one clear error that points to torch.export.
"""

import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn
from torch.export import Dim

import initstate

RNNS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
CELLS = {"LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell, "RNNCell": nn.RNNCell}


def build(kind, init):
    """Ours (learned state away from zero) and torch.nn with the same weights, both in eval mode."""
    kw = {"num_layers": 2, "batch_first": True} if kind in RNNS else {}
    learned = {"learned_init": "normal"} if init in ("learned", "learned_noisy", "adaptive") else {}
    ours = getattr(initstate, kind)(3, 4, init=init, **learned, **kw)
    ref = {**RNNS, **CELLS}[kind](3, 4, **kw)
    ref.load_state_dict(ours.state_dict(), strict=False)
    return ours.eval(), ref.eval()


def inputs(kind, batch):
    return torch.randn(batch, 5, 3) if kind in RNNS else torch.randn(batch, 3)


def assert_same(a, b):
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("init", initstate.INIT_CHOICES)
@pytest.mark.parametrize("kind", [*RNNS, *CELLS])
def test_export_dynamic_batch_matches_eager_and_torch(kind, init):
    if kind in CELLS and initstate.STRATEGIES[init].needs_input:
        with pytest.raises(ValueError, match="one step per call"):  # cells refuse the encoder
            build(kind, init)
        return
    ours, ref = build(kind, init)
    batch = Dim("batch", min=1, max=64)
    ep = torch.export.export(ours, (inputs(kind, 2),), dynamic_shapes=({0: batch},))
    for b in (1, 3, 7):
        x = inputs(kind, b)
        got, eager = ep.module()(x), ours(x)
        assert_same(got, eager)
        # ... and both are torch.nn run from the strategy's state (the encoder's: of this x).
        assert_same(eager, ref(x, ours.initial_state(input=x)))


@pytest.mark.parametrize("init", ["learned", "adaptive", "zero"])
def test_torch_nn_exports_the_same_way(init):
    """The reference: torch.nn.LSTM exports with a dynamic batch; ours gives the same graph outputs.

    learned_init="zeros": the eval state is zero, so both exported programs must agree exactly at
    every batch size, and both take exactly one user input (no state baked in as an extra input).
    """
    x = torch.randn(2, 5, 3)
    shapes = ({0: Dim("batch", min=1, max=64)},)
    ref = nn.LSTM(3, 4, batch_first=True).eval()
    ours = initstate.LSTM(3, 4, batch_first=True, init=init).eval()
    ours.load_state_dict(ref.state_dict(), strict=False)
    ep_ref = torch.export.export(ref, (x,), dynamic_shapes=shapes)
    ep = torch.export.export(ours, (x,), dynamic_shapes=shapes)
    user_inputs = lambda e: [s for s in e.graph_signature.input_specs if s.kind.name == "USER_INPUT"]  # noqa: E731
    assert len(user_inputs(ep)) == len(user_inputs(ep_ref)) == 1
    for b in (1, 3, 7):
        xb = torch.randn(b, 5, 3)
        got, want = ep.module()(xb), ep_ref.module()(xb)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert got[0].shape == (b, 5, 4)


TRACE_SCRIPT = textwrap.dedent(
    """
    import warnings
    import torch, initstate
    from torch import nn
    warnings.simplefilter("ignore")  # TracerWarnings
    torch.manual_seed(0)
    rnns = ("LSTM", "GRU", "RNN")
    for kind in ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"):
        for init in initstate.INIT_CHOICES:
            learned = {"learned_init": "normal"} if "learned" in init or init == "adaptive" else {}
            try:
                m = getattr(initstate, kind)(3, 4, init=init, **learned).eval()
            except ValueError as e:  # a cell refuses the encoder, with one clear error
                print(kind, init, "error", type(e).__name__, str(e).splitlines()[0])
                continue
            shape = (lambda b: (5, b, 3)) if kind in rnns else (lambda b: (b, 3))
            try:
                traced = torch.jit.trace(m, torch.randn(shape(2)))
                x = torch.randn(shape(3))
                got = traced(x)
            except Exception as e:  # reported, and the test fails on it: every combination must work
                print(kind, init, "error", type(e).__name__, str(e).splitlines()[0])
                continue
            want = m(x)
            flat = lambda o: [t for p in (o if isinstance(o, tuple) else (o,))
                              for t in (p if isinstance(p, tuple) else (p,))]
            ok = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(flat(got), flat(want)))
            print(kind, init, "ok" if ok else "WRONG")
    print("done")
    """
)


def test_jit_trace_at_another_batch_size_is_correct_and_never_crashes():
    """Traced at batch 2, run at batch 3 (the LSTM case used to abort the process: run apart)."""
    proc = subprocess.run([sys.executable, "-c", TRACE_SCRIPT], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"the traced module crashed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    lines = proc.stdout.splitlines()
    assert lines[-1] == "done"
    expected = set()
    for kind in [*RNNS, *CELLS]:
        for init in initstate.INIT_CHOICES:
            if kind in CELLS and initstate.STRATEGIES[init].needs_input:
                # The only accepted error: a cell refuses the encoder at construction.
                expected.add(f"{kind} {init} error ValueError {kind}: init={init!r} computes the state")
            else:
                expected.add(f"{kind} {init} ok")
    got = {line.split(" from the first")[0] if " error " in line else line for line in lines[:-1]}
    assert got == expected, proc.stdout


@pytest.mark.parametrize("init", ["noisy", "learned_noisy", "adaptive"])
def test_jit_trace_in_training_mode_draws_noise_of_the_new_batch(init):
    """Traced at batch 2, run at batch 3: the noise has the new batch's shape, is fresh on every
    call, and is the noise eager mode draws from the same seed (torch.nn from h0 + that noise)."""
    m = initstate.GRU(3, 4, init=init, **({} if init == "noisy" else {"learned_init": "normal"})).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning: the output differs between calls (noise)
        traced = torch.jit.trace(m, torch.randn(5, 2, 3), check_trace=False)
    x = torch.randn(5, 3, 3)
    torch.manual_seed(11)
    out, h = traced(x)
    assert out.shape == (5, 3, 4) and h.shape == (1, 3, 4)
    torch.manual_seed(11)
    hx = m.initial_state(3)  # the same draws, eagerly
    ref = nn.GRU(3, 4)
    ref.load_state_dict(m.state_dict(), strict=False)
    want, want_h = ref(x, hx)
    assert_same(out, want)
    assert_same(h, want_h)
    # The state really is noisy (rows differ from each other and from the eval state) and fresh.
    assert not torch.allclose(hx[:, 0], hx[:, 1])
    assert not torch.allclose(traced(x)[0], out)


@pytest.mark.parametrize("init", ["zero", "learned", "adaptive"])
@pytest.mark.parametrize("kind", [*RNNS, *CELLS])
def test_jit_script_raises_one_clear_error(kind, init):
    torch.jit.script(({**RNNS, **CELLS})[kind](3, 4))  # torch.nn scripts ...
    m = getattr(initstate, kind)(3, 4, init=init)
    with pytest.raises(RuntimeError, match=r"torch\.jit\.script.*not supported.*torch\.export"):
        torch.jit.script(m)  # ... ours says what to use instead
    # Inside a larger model too.
    with pytest.raises(RuntimeError, match=r"torch\.export"):
        torch.jit.script(nn.Sequential(nn.Identity(), m))
