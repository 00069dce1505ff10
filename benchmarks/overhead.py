"""Overhead of each initial-state strategy over bare torch.nn, as a ratio timed in the same run.

One training step = forward + backward + SGD step. For every shape, the bare module (hx=None),
each initstate strategy and the widely copied recipe (a trainable h0 ``expand().contiguous()``-ed
per call plus ``randn_like`` noise, done outside the module) are built with identical weights and
timed round-robin, so drifts in machine load hit all variants alike. Reported: the median step
time and its ratio to the bare module.

    python benchmarks/overhead.py                 # CPU (1 thread), all shapes
    python benchmarks/overhead.py --shapes h64 h512 --reps 60   # issue 20's goal shapes
    python benchmarks/overhead.py --device cuda   # on a GPU
    python benchmarks/overhead.py --quick         # fewer repetitions, smaller long-few shape

Timings on a shared machine are noisy: the variants are interleaved (a fresh random order every
round, so no variant always runs right after the same one), and medians are reported, so that
load drifts hit all of them alike; rerun when two runs disagree by more than a few percent.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
from torch import nn

import initstate

SHAPES = {
    # name: (cell, T, B, H, layers, bidirectional)
    # h64 / h512: issue 20's goals, ≤ 1.05× at H = 64 and ≤ 1.03× at H = 512 (1 thread).
    "h64": ("LSTM", 50, 32, 64, 1, False),
    "h512": ("LSTM", 50, 32, 512, 1, False),
    "short-many": ("LSTM", 20, 256, 128, 1, False),
    "typical": ("LSTM", 100, 64, 256, 2, False),
    "long-few": ("LSTM", 1000, 8, 256, 2, False),
    "bidirectional": ("LSTM", 100, 64, 128, 1, True),
    "gru": ("GRU", 100, 64, 256, 1, False),
}
STRATEGIES = initstate.INIT_CHOICES  # every built-in strategy, the encoder included


class Recipe(nn.Module):
    """The common hand-written learned(+noise) state: expand().contiguous() and randn_like per call."""

    def __init__(self, rnn: nn.Module, noise_std: float = 0.3):
        super().__init__()
        self.rnn, self.noise_std = rnn, noise_std
        d = 2 if rnn.bidirectional else 1
        shape = (d * rnn.num_layers, 1, rnn.hidden_size)
        self.h0 = nn.Parameter(torch.zeros(shape))
        self.c0 = nn.Parameter(torch.zeros(shape)) if isinstance(rnn, nn.LSTM) else None

    def forward(self, x):
        B = x.size(1)
        h = self.h0.expand(-1, B, -1).contiguous()
        h = h + torch.randn_like(h) * self.noise_std
        if self.c0 is None:
            return self.rnn(x, h)
        c = self.c0.expand(-1, B, -1).contiguous()
        return self.rnn(x, (h, c + torch.randn_like(c) * self.noise_std))


def make_variants(cell, H, layers, bidir, device):
    torch_cls = getattr(nn, cell)
    ours_cls = getattr(initstate, cell)
    kw = dict(input_size=H, hidden_size=H, num_layers=layers, bidirectional=bidir)
    bare = torch_cls(**kw).to(device)
    variants = {"torch.nn": bare}
    for s in STRATEGIES:
        m = ours_cls(**kw, init=s).to(device)
        m.load_state_dict(bare.state_dict(), strict=False)
        variants[s] = m
    rec_rnn = torch_cls(**kw).to(device)
    rec_rnn.load_state_dict(bare.state_dict())
    variants["recipe (learned+noise)"] = Recipe(rec_rnn).to(device)
    return variants


def step_fn(module, x, device):
    opt = torch.optim.SGD(module.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = module(x)
        out.float().pow(2).mean().backward()
        opt.step()

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_shape(name, spec, device, reps, warmup):
    cell, T, B, H, layers, bidir = spec
    variants = make_variants(cell, H, layers, bidir, device)
    x = torch.randn(T, B, H, device=device)
    steps = {k: step_fn(m.train(), x, device) for k, m in variants.items()}
    for _ in range(warmup):
        for s in steps.values():
            s()
    times = {k: [] for k in steps}
    order = list(steps)
    shuffle = random.Random(0).shuffle
    for _ in range(reps):
        shuffle(order)  # interleaved, in a fresh order every round: drifts hit every variant alike
        for k in order:
            s = steps[k]
            sync(device)
            t0 = time.perf_counter()
            s()
            sync(device)
            times[k].append(time.perf_counter() - t0)
    # The ratio is the median of the per-round ratios: each variant against the bare module of
    # the same round, so slow phases of a shared machine cancel out of the pair.
    base = times["torch.nn"]
    return {
        k: (statistics.median(v), statistics.median(t / b for t, b in zip(v, base))) for k, v in times.items()
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=None, help="timed steps per variant (default 30 CPU, 200 GPU)")
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's default)")
    ap.add_argument("--quick", action="store_true", help="few repetitions; long-few shortened to T=200")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.threads and device.type == "cpu":
        torch.set_num_threads(args.threads)
    reps = args.reps or (5 if args.quick else (30 if device.type == "cpu" else 200))
    torch.manual_seed(0)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"initstate overhead benchmark — {label}, torch {torch.__version__}, {reps} timed steps per variant")
    print("ratio = median over rounds of (step time / bare torch.nn's step time in that round), same run\n")
    for name in args.shapes:
        spec = SHAPES[name]
        if args.quick and name == "long-few":
            spec = spec[:1] + (200,) + spec[2:]
        cell, T, B, H, layers, bidir = spec
        res = bench_shape(name, spec, device, reps, warmup=max(2, reps // 10))
        print(f"{name}: {cell} T={T} B={B} H={H} layers={layers} bidirectional={bidir}")
        for k, (t, r) in res.items():
            print(f"  {k:<24} {t * 1e3:9.2f} ms   {r:6.3f}x")
        print()


if __name__ == "__main__":
    main()
