"""Strategy options: warnings for options without effect, invalid values, custom strategies.

Issue 11, item 5. torch.nn warns (``UserWarning``) when ``dropout`` has no effect with one layer;
we warn the same way when a strategy option has no effect, raise on invalid values, pass the
documented options to custom strategies, and check their constructor contract.
"""

import warnings

import pytest
import torch
from torch import nn

import initstate
from initstate.strategies import STRATEGIES, InitialState


@pytest.fixture
def registry():
    """Custom strategies registered by a test are removed afterwards (and built-ins restored)."""
    saved = dict(STRATEGIES)
    yield STRATEGIES
    STRATEGIES.clear()
    STRATEGIES.update(saved)


def test_torch_nn_reference_warning():
    with pytest.warns(UserWarning, match="dropout"):
        nn.LSTM(3, 4, dropout=0.5)


@pytest.mark.parametrize(
    "init,option,value",
    [
        ("learned", "noise_std", 0.5),
        ("zero", "noise_std", 0.1),
        ("noisy", "adaptive_decay", 0.9),
        ("noisy", "learned_init", "normal"),
        ("learned_noisy", "adaptive_decay", 0.5),
        ("zero", "init_mask", (True, False)),
        ("learned", "encoder_steps", 3),
        ("adaptive", "encoder_hidden", 8),
        ("encoder", "noise_std", 0.5),
        ("encoder", "learned_init", "normal"),
    ],
)
def test_option_without_effect_warns(init, option, value):
    with pytest.warns(UserWarning, match=rf"{option}.*no effect.*init='{init}'"):
        initstate.LSTM(3, 4, init=init, **{option: value})


def test_option_alongside_a_strategy_instance_warns():
    strat = initstate.build_strategy("learned", [(1, 4)], 1, names=["h0"])
    with pytest.warns(UserWarning, match="noise_std.*ignored.*instance"):
        initstate.GRU(3, 4, init=strat, noise_std=0.5)


@pytest.mark.parametrize("init", initstate.INIT_CHOICES)
def test_defaults_and_used_options_do_not_warn(init):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initstate.LSTM(3, 4, init=init)
        # The harness passes every option at its default value: that must stay silent.
        initstate.GRU(3, 4, init=init, noise_std=0.3, learned_init="zeros", adaptive_decay=0.99, init_mask=None,
                      encoder_steps=5, encoder_hidden=64)
    used = {"noisy": {"noise_std": 0.5, "init_mask": (True, False)},
            "learned": {"learned_init": "normal", "init_mask": (False, True)},
            "learned_noisy": {"noise_std": 0.1, "learned_init": "normal"},
            "adaptive": {"noise_std": 0.1, "adaptive_decay": 0.5, "learned_init": "normal"},
            "encoder": {"encoder_steps": 3, "encoder_hidden": 8, "init_mask": (True, False)}}.get(init, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initstate.LSTM(3, 4, init=init, **used)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan"), -1.0, "0.3x", "0.3", True, False, None])
@pytest.mark.parametrize("cls", [initstate.LSTM, initstate.GRUCell])
def test_invalid_noise_std_raises(cls, bad):
    # "0.3" and True used to be accepted (float("0.3"), float(True) = 1.0).
    with pytest.raises(ValueError, match="noise_std"):
        cls(3, 4, init="noisy", noise_std=bad)


@pytest.mark.parametrize("bad", ["0.9", True, None, 1.0, -0.1])
def test_invalid_adaptive_decay_raises(bad):
    with pytest.raises(ValueError, match="adaptive_decay"):
        initstate.LSTM(3, 4, init="adaptive", adaptive_decay=bad)


def test_numbers_of_any_real_type_are_accepted():
    import fractions

    assert initstate.LSTM(3, 4, init="noisy", noise_std=1).init_state.noise_std == 1.0  # an int
    assert initstate.LSTM(3, 4, init="noisy", noise_std=fractions.Fraction(1, 4)).init_state.noise_std == 0.25


def test_a_strategy_class_instead_of_an_instance_gets_a_hint():
    from initstate.strategies import Learned

    for cls in (initstate.LSTM, initstate.GRUCell):
        with pytest.raises(ValueError, match=r"init=Learned is a strategy class; pass an instance") as e:
            cls(3, 4, init=Learned)
        assert "\n" not in str(e.value)
    # The instance the hint asks for works.
    m = initstate.GRU(3, 4, init=Learned([(1, 4)], 1, names=["h0"]))
    assert m.initial_state(2).shape == (1, 2, 4)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_a_misspelled_keyword_names_the_class_not_rnnbase(kind):
    ref = getattr(nn, kind)
    with pytest.raises(TypeError):  # torch.nn raises a TypeError too ...
        ref(3, 4, bais=False)
    with pytest.raises(TypeError, match=rf"^{kind}\(\) got an unexpected keyword argument 'bais' \(did you mean 'bias'\?\)") as e:
        getattr(initstate, kind)(3, 4, bais=False)
    assert "RNNBase" not in str(e.value)  # ... but ours names the class the user called
    with pytest.raises(TypeError, match="'nosie_std' .*did you mean 'noise_std'"):
        getattr(initstate, kind)(3, 4, nosie_std=0.3)
    # Every keyword torch.nn takes still works (nonlinearity, hidden in nn.RNN's signature).
    extra = {"nonlinearity": "relu"} if kind.startswith("RNN") else {}
    rnn_only = {"num_layers": 1, "batch_first": True, "dropout": 0.0, "bidirectional": False} if "Cell" not in kind else {}
    getattr(initstate, kind)(input_size=3, hidden_size=4, bias=False, device="cpu", dtype=torch.float64, **extra, **rnn_only)


def test_init_choices_is_live(registry):
    assert tuple(initstate.INIT_CHOICES) == ("zero", "noisy", "learned", "learned_noisy", "adaptive", "encoder")
    assert initstate.INIT_CHOICES == list(initstate.INIT_CHOICES)

    @initstate.register("test_live")
    class Live(InitialState):
        pass

    assert "test_live" in initstate.INIT_CHOICES and initstate.INIT_CHOICES[-1] == "test_live"
    assert len(initstate.INIT_CHOICES) == 7
    with pytest.raises(ValueError, match="valid choices: .*encoder, context, test_live"):
        initstate.LSTM(3, 4, init="test_livee")
    # context is a strategy, but not a choice for callers that only call forward(x)
    assert "context" in initstate.STRATEGIES and "context" not in initstate.INIT_CHOICES


@pytest.mark.parametrize("init", ["noisy", "learned_noisy", "adaptive"])
def test_generator_draws_the_noise_and_leaves_the_global_rng_alone(init):
    m = initstate.LSTM(3, 4, init=init, generator=torch.Generator().manual_seed(5)).train()
    torch.manual_seed(0)
    h, c = m.initial_state(3)
    after = torch.rand(4)  # the global stream: exactly as if no noise had been drawn
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(4))
    # The noise is the generator's: N(0, 0.3²) draws from seed 5, h then c (learned part is 0).
    g = torch.Generator().manual_seed(5)
    want_h = torch.randn(1, 3, 4, generator=g) * 0.3
    want_c = torch.randn(1, 3, 4, generator=g) * 0.3
    torch.testing.assert_close(h, want_h)
    torch.testing.assert_close(c, want_c)
    # Without a generator the global RNG is used (documented), so the global stream moves.
    torch.manual_seed(0)
    initstate.LSTM(3, 4, init=init).train().initial_state(3)
    assert not torch.equal(torch.rand(4), after)


def test_generator_validation_and_no_effect_warning():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        initstate.GRU(3, 4, init="noisy", generator=5)
    with pytest.warns(UserWarning, match="generator.*no effect.*init='learned'"):
        initstate.GRU(3, 4, init="learned", generator=torch.Generator())


@pytest.mark.parametrize("bad", ["ab", True, (1, 0), ("yes", "no"), (True, None), 1.0])
def test_init_mask_must_be_a_sequence_of_bools(bad):
    with pytest.raises(ValueError, match="init_mask"):
        initstate.LSTM(3, 4, init="learned", init_mask=bad)


def test_init_mask_accepts_lists_and_bool_tensors():
    assert initstate.LSTM(3, 4, init="learned", init_mask=[True, False]).init_state.mask == [True, False]
    m = initstate.LSTM(3, 4, init="learned", init_mask=torch.tensor([False, True]))
    assert m.init_state.mask == [False, True]


def test_custom_strategy_with_kwargs_gets_the_documented_options(registry):
    seen = {}

    @initstate.register("test_kwargs")
    class Constant(InitialState):
        def __init__(self, shapes, batch_dim, **options):
            seen.update(options)
            super().__init__(shapes, batch_dim, names=options["names"], mask=options["mask"])
            self.value = options["noise_std"]

        def component(self, i, batch_size, dtype, device):
            return torch.full(self.batched_shape(i, batch_size), self.value, dtype=dtype, device=device)

    m = initstate.LSTM(3, 4, init="test_kwargs", noise_std=0.25, init_mask=(True, False))
    assert set(seen) == {"names", "mask", "noise_std", "learned_init", "adaptive_decay", "encoder_steps",
                         "encoder_hidden", "context_size", "generator", "input_size", "state_activations",
                         "device", "dtype"}
    assert seen["input_size"] == 3  # H_in, from the module
    assert seen["state_activations"] == ["tanh", "identity"]  # an LSTM's h in (-1, 1), c unbounded
    assert seen["mask"] == [True, False] and seen["names"] == ["h0", "c0"]
    h, c = m.initial_state(2)
    assert torch.equal(h, torch.full((1, 2, 4), 0.25)) and not c.any()


def test_custom_strategy_with_named_options_gets_only_those(registry):
    @initstate.register("test_named")
    class Half(InitialState):
        def __init__(self, shapes, batch_dim, names=None, mask=None, noise_std=0.3):
            super().__init__(shapes, batch_dim, names, mask)
            self.value = noise_std / 2

    assert initstate.GRU(3, 4, init="test_named", noise_std=0.5).init_state.value == 0.25
    with pytest.warns(UserWarning, match="adaptive_decay.*no effect"):
        initstate.GRU(3, 4, init="test_named", adaptive_decay=0.5)


def test_constructor_contract_is_checked_with_a_clear_message(registry):
    with pytest.raises(TypeError, match="constructor contract.*shapes, batch_dim"):
        @initstate.register("test_bad_signature")
        class Bad(InitialState):
            def __init__(self, hidden_size):
                super().__init__([(hidden_size,)], 0)

    with pytest.raises(TypeError, match="subclass of initstate.InitialState"):
        initstate.register("test_not_a_strategy")(nn.Linear)

    @initstate.register("test_wrong_shapes")
    class Wrong(InitialState):
        def __init__(self, shapes, batch_dim, names=None, mask=None):
            super().__init__([(1, 1)], batch_dim, names=["x"])  # ignores the shapes it was given

    with pytest.raises(ValueError, match="test_wrong_shapes.*shapes.*constructor contract"):
        initstate.LSTM(3, 4, init="test_wrong_shapes")


def test_register_refuses_to_replace_a_builtin(registry):
    original = STRATEGIES["learned"]
    with pytest.raises(ValueError, match="built-in.*replace=True"):
        @initstate.register("learned")
        class Mine(InitialState):
            pass

    assert STRATEGIES["learned"] is original and original.name == "learned"

    @initstate.register("learned", replace=True)
    class Mine2(InitialState):
        pass

    assert STRATEGIES["learned"] is Mine2


def test_custom_strategy_with_needs_input_gets_the_input_batch_first(registry):
    """A registered data-conditioned strategy: h0 of every layer = the sequence's first step."""

    @initstate.register("test_first_step")
    class FirstStep(InitialState):
        needs_input = True

        def forward(self, batch_size, dtype=None, device=None, rows=None, *, input=None, lengths=None):
            s = input[:, 0].unsqueeze(0).expand(self.shapes[0][0], -1, -1)  # input is (B, L, H_in)
            return ((s if batch_size is not None else s.squeeze(1)).contiguous(),)

    m = initstate.GRU(4, 4, num_layers=2, init="test_first_step")
    ref = nn.GRU(4, 4, num_layers=2)
    ref.load_state_dict(m.state_dict())
    x = torch.randn(6, 3, 4)  # (L, B, H_in): the module must hand the strategy a batch-first view
    hx = x[0].unsqueeze(0).expand(2, 3, 4).contiguous()
    for a, b in zip(m(x), ref(x, hx)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(m.initial_state(input=x), hx, rtol=0, atol=0)
    # Unbatched input: (L, H_in) in, the unbatched state out.
    for a, b in zip(m(x[:, 0]), ref(x[:, 0], hx[:, 0])):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="one step per call"):  # cells refuse such a strategy
        initstate.GRUCell(4, 4, init="test_first_step")
