"""Harness overhead and sweep parallelism, each measured against a baseline in the same run.

1. Steps/s of one training epoch through ``replication.trainer.run_epoch`` (batching, masking,
   per-position bookkeeping) versus a bare loop over pre-built tensors with the same model,
   optimizer and batch count, interleaved over rounds.
2. Wall time of an 8-run sweep with the joblib launcher (2 jobs, 1 thread each) versus the same
   sweep run sequentially with Hydra's basic launcher.

    python benchmarks/harness.py            # both
    python benchmarks/harness.py --no-sweep # only the loop
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from replication.model import SequenceModel, per_step_loss
from replication.trainer import run_epoch

ROOT = Path(__file__).resolve().parents[1]


def loop_ratio(data_name: str, rounds: int) -> tuple[float, float, int]:
    data = instantiate(OmegaConf.load(ROOT / "conf" / "data" / f"{data_name}.yaml"))
    torch.manual_seed(0)
    if data.task == "lm":
        size_in = size_out = data.vocab_size
    else:
        size_in = size_out = data.num_channels
    model = SequenceModel(data.task, "lstm", size_in, size_out, hidden_size=64, init="learned")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = list(data.batches("train", 32, shuffle=True, generator=torch.Generator().manual_seed(0)))

    def bare():
        model.train()
        for b in batches:
            out, _ = model(b.inputs)
            loss = (per_step_loss(data.task, out, b.targets) * b.mask).sum() / b.mask.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def harness():
        run_epoch(model, data, "train", 32, optimizer=opt, generator=torch.Generator().manual_seed(0))

    bare(), harness()  # warm-up
    t_bare, t_harness = [], []
    for _ in range(rounds):
        for fn, acc in ((bare, t_bare), (harness, t_harness)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    n = len(batches)
    return n / statistics.median(t_harness), n / statistics.median(t_bare), n


def sweep_time(launcher: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(ROOT / "experiments" / "train.py"), "-m", "init_state=zero,noisy,learned,learned_noisy",
               "seed=0,1", "data=synthetic_short", "logger=none", "trainer.epochs=10", "trainer.progress=false", "trainer.threads=1",
               f"paths.sweeps_root={tmp}", *launcher]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="synthetic_short")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    h, b, n = loop_ratio(args.data, args.rounds)
    print(f"loop ({args.data}, {n} batches/epoch, 1 thread): harness {h:.1f} steps/s, bare {b:.1f} steps/s, "
          f"harness/bare = {h / b:.3f}")
    if not args.no_sweep:
        seq = sweep_time([])
        par = sweep_time(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
        print(f"8-run sweep: sequential {seq:.1f} s, joblib 2 jobs {par:.1f} s, speed-up {seq / par:.2f}x")


if __name__ == "__main__":
    main()
