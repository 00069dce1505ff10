"""A smoke run of the library (NOT the replication): each strategy fits a toy sequence task briefly.

``make smoke`` runs it: it only shows that every strategy trains end to end on this machine and
prints its final loss. It tests no claim; the replication is ``make reproduce``.
"""

from __future__ import annotations

import time

import torch
from torch import nn

import initstate

HEADER = ("initstate smoke run: each strategy fits a toy task briefly; this tests no claim "
          "(the replication is `make reproduce`, the studies `make help`)")


def run(init: str, steps: int = 60, seed: int = 0) -> float:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    rnn = initstate.LSTM(1, 32, batch_first=True, init=init)
    head = nn.Linear(32, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(steps):
        # Sine waves of random phase offset by a constant: predicting the next value well from
        # step 0 requires a good initial state.
        phase = torch.rand(64, 1, generator=g) * 6.28
        t = torch.arange(21.0)
        x = (torch.sin(0.3 * t + phase) + 2.0).unsqueeze(-1)
        out, _ = rnn(x[:, :-1])
        loss = nn.functional.mse_loss(head(out), x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def main() -> None:
    torch.set_num_threads(1)
    print(HEADER)
    for init in initstate.INIT_CHOICES:
        t0 = time.perf_counter()
        loss = run(init)
        print(f"  {init:<14} final train MSE {loss:.4f}  ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
