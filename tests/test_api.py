"""The public API as a user meets it: signatures, help(), docstrings, doctests, warning locations.

The references are torch.nn's own constructors (their signatures) and the option list that
``build_strategy`` validates (``OPTION_DEFAULTS``), not the classes under test.
"""

import doctest
import importlib
import inspect
import pkgutil
import pydoc
import re
import typing
import warnings

import pytest
import torch
from torch import nn

import initstate
from initstate.strategies.base import OPTION_DEFAULTS, USER_NAMES

MODULES = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]
STRATEGY_CLASSES = ["Zero", "Noisy", "Learned", "LearnedNoisy", "Adaptive", "Encoder", "Context"]
# The options every class takes, keyword-only, under the names users write.
OPTIONS = {"init": "zero", **{USER_NAMES.get(k, k): v for k, v in OPTION_DEFAULTS.items()}}


def _torch_signature(name: str) -> inspect.Signature:
    """torch.nn's documented constructor: its explicit __init__, or (LSTM/GRU/RNN) its typed overload."""
    init = getattr(nn, name).__init__
    overloads = typing.get_overloads(init)
    return inspect.signature(overloads[0] if overloads else init)


@pytest.mark.parametrize("name", MODULES)
def test_signature_is_torchs_then_the_options(name):
    params = list(inspect.signature(getattr(initstate, name)).parameters.values())
    ours = [(p.name, p.default) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    theirs = [(p.name, p.default) for p in _torch_signature(name).parameters.values() if p.name != "self"]
    assert ours == theirs
    keyword_only = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
    assert keyword_only == OPTIONS, "every class must take every strategy option (with its default)"
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


@pytest.mark.parametrize("name", MODULES)
def test_help_lists_the_options_and_documents_every_argument(name):
    text = pydoc.render_doc(getattr(initstate, name), renderer=pydoc.plaintext)
    for option, default in OPTIONS.items():
        # the signature line help() prints, e.g. "noise_std: 'float' = 0.3"
        assert re.search(rf"\b{option}: [^=]+ = {re.escape(repr(default))}[,)]", text), option
    doc = inspect.getdoc(getattr(initstate, name))
    for section in ("Args:", "Inputs:", "Outputs:", "Examples:"):
        assert re.search(rf"^{section}", doc, re.M), f"{name}: no {section} section"
    args = doc.split("Args:", 1)[1]
    for param in inspect.signature(getattr(initstate, name)).parameters:
        assert re.search(rf"^    {param}:", args, re.M), f"{name}: argument {param} undocumented"


@pytest.mark.parametrize("name", MODULES + STRATEGY_CLASSES + ["InitialState"])
def test_every_public_class_has_a_doctest_example(name):
    tests = doctest.DocTestFinder(recurse=False).find(getattr(initstate, name))
    assert tests and tests[0].examples, f"{name}'s docstring has no >>> example"


def test_every_doctest_in_the_library_passes():
    modules = ["initstate"] + [m.name for m in pkgutil.walk_packages(initstate.__path__, "initstate.")]
    attempted = 0
    for module in modules:
        result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, f"{module}: {result.failed} doctest(s) failed (run python -m doctest -v)"
        attempted += result.attempted
    assert attempted >= 40  # the examples above exist and ran


def test_strategy_classes_are_exported_at_the_top_level():
    for name in STRATEGY_CLASSES + ["InitialState"]:
        assert name in initstate.__all__
        cls = getattr(initstate, name)
        assert issubclass(cls, initstate.InitialState)
    assert {initstate.STRATEGIES[n] for n in ("zero", "noisy", "learned", "learned_noisy", "adaptive", "encoder", "context")} \
        == {getattr(initstate, n) for n in STRATEGY_CLASSES}


def test_positional_arguments_mean_what_they_mean_in_torch():
    # nn.RNN reads its 4th positional argument as nonlinearity, nn.RNNCell its 4th, the others
    # their 3rd as bias: the explicit signatures must forward them to the same places.
    for ours, theirs in [
        (initstate.RNN(3, 4, 2, "relu", False, True), nn.RNN(3, 4, 2, "relu", False, True)),
        (initstate.RNNCell(3, 4, False, "relu"), nn.RNNCell(3, 4, False, "relu")),
        (initstate.LSTM(3, 4, 2, False, True, 0.0, True, 2), nn.LSTM(3, 4, 2, False, True, 0.0, True, 2)),
        (initstate.GRUCell(3, 4, False, "meta", torch.float64), nn.GRUCell(3, 4, False, "meta", torch.float64)),
    ]:
        assert ours.state_dict().keys() - {k for k in ours.state_dict() if k.startswith("init_state.")} \
            == theirs.state_dict().keys()
        for attr in ("nonlinearity", "bias", "num_layers", "batch_first", "bidirectional", "proj_size"):
            assert getattr(ours, attr, None) == getattr(theirs, attr, None), attr
        assert [(p.shape, p.dtype, p.device) for p in ours.parameters()] == \
            [(p.shape, p.dtype, p.device) for p in theirs.parameters()]


class _UserLSTM(initstate.LSTM):
    def __init__(self) -> None:
        super().__init__(3, 4, init="learned", noise_std=0.5)  # the warning should point here


@pytest.mark.parametrize("build", [
    lambda: initstate.LSTM(3, 4, init="learned", noise_std=0.5),
    lambda: initstate.GRUCell(3, 4, init="learned", noise_std=0.5),
    lambda: initstate.RNN(3, 4, init="zero", adaptive_decay=0.5),
    _UserLSTM,
], ids=["LSTM", "GRUCell", "RNN", "subclass"])
def test_option_warnings_point_at_the_users_call(build):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build()
    assert [w.category for w in caught] == [UserWarning]
    assert caught[0].filename == __file__, caught[0].filename


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_mypy_strict_passes_on_the_library():
    # The cache (.mypy_cache, git-ignored) makes reruns take seconds; the first run reads torch's
    # stubs and takes about a minute.
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "src/initstate"],
                         cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout
