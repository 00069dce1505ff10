"""ONNX: every class × strategy exported in eval mode with a dynamic batch axis, run in onnxruntime
at batch 1, 3 and 7, equals eager mode (issue 20).

The TorchScript-based exporter (``dynamo=False``, ~0.05 s a model) covers the whole matrix; the
dynamo exporter (``dynamo=True``, the default, several seconds a model on this CPU) covers one
model per state layout. A deployment guide's pitfall this guards against: an ``initial_h``
exported with a static batch of 1 silently miscomputes batch > 1.

    python tests/test_onnx.py    # prints the table: class × strategy × batch → max abs error
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch

import initstate

ort = pytest.importorskip("onnxruntime")

RNNS = ("LSTM", "GRU", "RNN")
CELLS = ("LSTMCell", "GRUCell", "RNNCell")
BATCHES = (1, 3, 7)
# Built-in strategies only: the matrix must not grow with strategies a test registers.
INITS = ("zero", "noisy", "learned", "learned_noisy", "adaptive", "encoder")
CASES = [(k, i) for k in (*RNNS, *CELLS) for i in INITS if not (k in CELLS and i == "encoder")]


def build(kind: str, init: str):
    torch.manual_seed(0)
    learned = {"learned_init": "normal"} if init in ("learned", "learned_noisy", "adaptive") else {}
    kw = {"num_layers": 2, "batch_first": True} if kind in RNNS else {}
    return getattr(initstate, kind)(3, 4, init=init, **learned, **kw).eval()


def example(kind: str, batch: int) -> torch.Tensor:
    return torch.randn(batch, 5, 3) if kind in RNNS else torch.randn(batch, 3)


def flat(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in flat(o)]


def export(model, kind: str, dynamo: bool) -> bytes:
    x = example(kind, 2)
    batch_dim = 0  # batch_first for the RNN family, (B, H_in) for cells
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter deprecation notes and TracerWarnings
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=64)
            program = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=({batch_dim: batch},),
                                        verbose=False)
            return program.model_proto.SerializeToString()
        buf = io.BytesIO()
        torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["x"], dynamic_axes={"x": {batch_dim: "batch"}})
        return buf.getvalue()


def errors(kind: str, init: str, dynamo: bool) -> dict[int, float]:
    """Max abs difference between onnxruntime and eager, per batch size (shapes checked too)."""
    model = build(kind, init)
    session = ort.InferenceSession(export(model, kind, dynamo), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out = {}
    for b in BATCHES:
        x = example(kind, b)
        got = [torch.from_numpy(a) for a in session.run(None, {name: x.numpy()})]
        want = flat(model(x))
        assert [g.shape for g in got] == [w.shape for w in want], (kind, init, b)
        out[b] = max(float((g - w).abs().max()) for g, w in zip(got, want))
    return out


@pytest.mark.parametrize("kind,init", CASES)
def test_onnx_torchscript_exporter_dynamic_batch_matches_eager(kind, init):
    for b, err in errors(kind, init, dynamo=False).items():
        assert err < 1e-5, (kind, init, b, err)


@pytest.mark.parametrize("kind,init", [("LSTM", "encoder"), ("GRU", "adaptive"), ("LSTMCell", "learned_noisy")])
def test_onnx_dynamo_exporter_dynamic_batch_matches_eager(kind, init):
    pytest.importorskip("onnxscript")  # the dynamo exporter translates through it
    for b, err in errors(kind, init, dynamo=True).items():
        assert err < 1e-5, (kind, init, b, err)


def test_the_exported_state_follows_the_batch_not_a_baked_one():
    """The reference failure: a state exported for batch 2 must not be broadcast or reused."""
    model = build("GRU", "learned")
    session = ort.InferenceSession(export(model, "GRU", dynamo=False), providers=["CPUExecutionProvider"])
    x = example("GRU", 7)
    h = torch.from_numpy(session.run(None, {"x": x.numpy()})[1])
    assert h.shape == (2, 7, 4)
    torch.testing.assert_close(h, model(x)[1], rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    torch.set_num_threads(1)
    print("| exporter | class | init | " + " | ".join(f"B={b}" for b in BATCHES) + " |")
    print("|---|---|---|" + "---|" * len(BATCHES))
    for dynamo in (False, True):
        for kind, init in CASES:
            errs = errors(kind, init, dynamo)
            name = "dynamo" if dynamo else "torchscript"
            print(f"| {name} | {kind} | {init} | " + " | ".join(f"{errs[b]:.1e}" for b in BATCHES) + " |", flush=True)
