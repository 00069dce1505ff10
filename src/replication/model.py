"""The model of every run: input encoder → initstate RNN → task head.

``lm``: token embedding → RNN → linear to the vocabulary, at every step.
``forecast``: the ``C`` real channels → RNN → linear to ``C``, at every step (next-step values).
``classify``: channels → RNN → linear to the classes, from the final state of the last layer
(both directions' when bidirectional); variable lengths are packed, so padding is never read.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

import initstate

CELLS = {"lstm": initstate.LSTM, "gru": initstate.GRU, "rnn": initstate.RNN}


class SequenceModel(nn.Module):
    """Encoder → recurrent core with a pluggable initial state → head.

    Args:
        task: ``"lm"``, ``"forecast"`` or ``"classify"``.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        input_size: vocabulary size (lm) or number of channels ``C``.
        output_size: vocabulary size, ``C`` or the number of classes.
        hidden_size, num_layers, bidirectional, dropout: as in ``torch.nn.LSTM``.
        embedding_dim: token embedding size (lm only).
        state_options: the strategy keywords (``init``, ``noise_std``, ``init_mask``, ...).
    """

    def __init__(
        self,
        task: str,
        cell: str,
        input_size: int,
        output_size: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        embedding_dim: int = 32,
        **state_options,
    ) -> None:
        super().__init__()
        self.task = task
        if task == "lm":
            self.encoder: nn.Module = nn.Embedding(input_size, embedding_dim)
            rnn_in = embedding_dim
        else:
            self.encoder = nn.Identity()
            rnn_in = input_size
        self.rnn = CELLS[cell](
            rnn_in,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
            **state_options,
        )
        d = 2 if bidirectional else 1
        self.head = nn.Linear(d * hidden_size, output_size)

    def forward(self, inputs: Tensor, hx=None, lengths: Tensor | None = None):
        """Run one batch.

        Args:
            inputs: ``(B, T)`` int64 tokens (lm) or ``(B, T, C)`` float.
            hx: the state to start from (``None``: the strategy's initial state for every row).
            lengths: ``(B,)`` valid steps per row; used by ``classify`` to pack.

        Returns:
            ``(outputs, state)``: outputs ``(B, T, output_size)`` for lm/forecast and
            ``(B, output_size)`` for classify; ``state`` the final recurrent state.
        """
        x = self.encoder(inputs)
        if self.task == "classify":
            packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
            _, state = self.rnn(packed, hx)
            h = state[0] if isinstance(state, tuple) else state
            d = 2 if self.rnn.bidirectional else 1
            last = h[-d:].transpose(0, 1).reshape(h.size(1), -1)  # (B, D*H) of the top layer
            return self.head(last), state
        out, state = self.rnn(x, hx)
        return self.head(out), state


def per_step_loss(task: str, outputs: Tensor, targets: Tensor) -> Tensor:
    """Unreduced loss: ``(B, T)`` for lm (cross-entropy, nats) and forecast (MSE over channels),
    ``(B,)`` for classify (cross-entropy)."""
    if task == "lm":
        return nn.functional.cross_entropy(outputs.transpose(1, 2), targets, reduction="none")
    if task == "forecast":
        return (outputs - targets).pow(2).mean(-1)
    return nn.functional.cross_entropy(outputs, targets, reduction="none")


@torch.no_grad()
def accuracy(outputs: Tensor, targets: Tensor) -> Tensor:
    """``(B,)`` 1.0 where the arg-max class is right."""
    return (outputs.argmax(-1) == targets).float()
