"""initstate: torch.nn RNNs whose initial state is zero, noisy, learned, adaptive or data-encoded.

>>> import torch, initstate
>>> lstm = initstate.LSTM(8, 16, num_layers=2, batch_first=True, init="learned")
>>> out, (h, c) = lstm(torch.randn(4, 10, 8))
>>> lstm.initial_state(4)[0].shape
torch.Size([2, 4, 16])
"""

from .cells import GRUCell, LSTMCell, RNNCell
from .layers import GRU, LSTM, RNN
from .state import reset_rows
from .strategies import (
    STRATEGIES,
    Adaptive,
    Context,
    Encoder,
    InitialState,
    Learned,
    LearnedNoisy,
    Noisy,
    Zero,
    build_strategy,
    register,
)
from .strategies.base import INIT_CHOICES  # a live view: strategies registered later appear in it

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "INIT_CHOICES",
    "LSTM",
    "RNN",
    "STRATEGIES",
    "Adaptive",
    "Context",
    "Encoder",
    "GRUCell",
    "InitialState",
    "LSTMCell",
    "Learned",
    "LearnedNoisy",
    "Noisy",
    "RNNCell",
    "Zero",
    "build_strategy",
    "register",
    "reset_rows",
]
