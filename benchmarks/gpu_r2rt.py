"""The r2rt profile on a GPU: the harness's step time against a bare cuDNN loop, and throughput
against the number of jobs sharing the GPU.

(a) One training step (forward, backward, Adam) of r2rt's configuration: 2 x 200 LSTM, embedding
    200, vocabulary 10,001 (10 k + <unk>), batch 30, 50-step windows. Timed in one process,
    round-robin, the median of whole epochs over repetitions:
      bare     torch.nn.Embedding -> torch.nn.LSTM (cuDNN, hx=None) -> Linear, cross-entropy, on
               batches already on the device;
      model    replication's SequenceModel (initstate.LSTM with the strategy) in the same bare loop;
      harness  replication.trainer.run_epoch, the loop every run uses (batching on the host,
               copies to the device, masking), with SequenceModel and each strategy.
    Reported: ms per step and harness / bare (target <= 1.10).
(b) Aggregate throughput (tokens/s) of N concurrent processes (1, 2, 4, 8, 16), each running the
    harness loop (strategy zero) on its own model: 16 worker processes are started once and warmed
    up; at each level the first N of them start together and run for the same number of seconds.

    python benchmarks/gpu_r2rt.py --out results/r2rt/bench          # on a GPU
    python benchmarks/gpu_r2rt.py --device cpu --tiny --out /tmp/b  # CPU rehearsal (< 30 s)

Writes <out>/gpu_r2rt.json, gpu_r2rt_steps.csv and gpu_r2rt_jobs.csv, and prints a table. On a
machine without CUDA (and without --device cpu) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
try:
    import replication  # noqa: F401
except ImportError:  # run from a checkout that is not installed (the GPU machine): use src/
    sys.path.insert(0, str(ROOT / "src"))

from replication.data.base import SequenceDataset, Split  # noqa: E402
from replication.model import SequenceModel, per_step_loss  # noqa: E402
from replication.trainer import make_optimizer, run_epoch  # noqa: E402

STRATEGIES = ("zero", "noisy", "learned", "learned_noisy", "adaptive")
FULL = dict(vocab=10_001, emb=200, hidden=200, layers=2, batch=30, window=50, steps=30, reps=7,
            jobs=(1, 2, 4, 8, 16), seconds=8.0)
TINY = dict(vocab=501, emb=32, hidden=32, layers=2, batch=8, window=20, steps=8, reps=3, jobs=(1, 2), seconds=1.0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dataset(c: dict, seed: int = 0) -> SequenceDataset:
    """Random tokens in ``steps * batch`` windows of ``window + 1`` tokens (the shapes are what count)."""
    g = torch.Generator().manual_seed(seed)
    n = c["steps"] * c["batch"]
    values = torch.randint(0, c["vocab"], (n * (c["window"] + 1),), generator=g)
    split = Split(values, torch.full((n,), c["window"] + 1))
    return SequenceDataset(name="r2rt_bench", task="lm", regime="windows", vocab_size=c["vocab"], train=split,
                           val=split, test=split)


def model(c: dict, init: str, device) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel("lm", "lstm", c["vocab"], c["vocab"], hidden_size=c["hidden"], num_layers=c["layers"],
                         embedding_dim=c["emb"], init=init, noise_std=0.3).to(device)


class Bare(nn.Module):
    """The reference: torch.nn only, with the weights of a SequenceModel."""

    def __init__(self, ref: SequenceModel):
        super().__init__()
        self.encoder = nn.Embedding(ref.encoder.num_embeddings, ref.encoder.embedding_dim)
        r = ref.rnn
        self.rnn = nn.LSTM(r.input_size, r.hidden_size, num_layers=r.num_layers, batch_first=True)
        self.head = nn.Linear(ref.head.in_features, ref.head.out_features)
        self.load_state_dict(ref.state_dict(), strict=False)

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x))
        return self.head(out)


def loops(c: dict, device: torch.device) -> dict:
    """``{name: fn}``: each fn runs one epoch of ``c['steps']`` training steps."""
    data = dataset(c)
    on_device = [(b.inputs.to(device), b.targets.to(device)) for b in
                 data.batches("train", c["batch"], shuffle=True, generator=torch.Generator().manual_seed(0))]
    fns = {}
    bare = Bare(model(c, "zero", "cpu")).to(device)
    opt = torch.optim.Adam(bare.parameters(), lr=1e-3)

    def bare_epoch(m=bare, o=opt):
        m.train()
        for x, y in on_device:
            loss = nn.functional.cross_entropy(m(x).reshape(-1, c["vocab"]), y.reshape(-1))
            o.zero_grad(set_to_none=True)
            loss.backward()
            o.step()

    fns["bare"] = bare_epoch
    for s in STRATEGIES:
        m = model(c, s, device)
        o = make_optimizer("adam", m.parameters(), 1e-3)

        def model_epoch(m=m, o=o):
            m.train()
            for x, y in on_device:
                out, _ = m(x)
                loss = per_step_loss("lm", out, y).mean()
                o.zero_grad(set_to_none=True)
                loss.backward()
                o.step()

        fns[f"model/{s}"] = model_epoch
        mh = model(c, s, device)
        oh = make_optimizer("adam", mh.parameters(), 1e-3)
        fns[f"harness/{s}"] = lambda m=mh, o=oh: run_epoch(m, data, "train", c["batch"], optimizer=o, device=device,
                                                            generator=torch.Generator().manual_seed(0))
    return fns


def step_times(c: dict, device: torch.device) -> dict:
    """Median ms per step of every loop, timed round-robin (load drifts hit all alike)."""
    fns = loops(c, device)
    for f in fns.values():  # warm-up: cuDNN plans, allocator, Adam state
        f()
    times = {k: [] for k in fns}
    for _ in range(c["reps"]):
        for k, f in fns.items():
            sync(device)
            t0 = time.perf_counter()
            f()
            sync(device)
            times[k].append((time.perf_counter() - t0) / c["steps"])
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def worker(conn, c: dict, device_name: str, seconds: float) -> None:
    """One process of (b): build, warm up, send 'ready'; then for every 'go' run the harness loop
    for ``seconds`` and send its counts; return at 'quit'."""
    torch.set_num_threads(1)
    device = torch.device(device_name)
    data = dataset(c)
    m = model(c, "zero", device)
    opt = make_optimizer("adam", m.parameters(), 1e-3)
    epoch = lambda: run_epoch(m, data, "train", c["batch"], optimizer=opt, device=device,  # noqa: E731
                              generator=torch.Generator().manual_seed(0))
    epoch()
    sync(device)
    conn.send("ready")
    while conn.recv() == "go":
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            epoch()
            steps += c["steps"]
        sync(device)
        took = time.perf_counter() - t0
        conn.send({"steps": steps, "seconds": took, "tokens": steps * c["batch"] * c["window"]})


def concurrency(c: dict, device: torch.device) -> list[dict]:
    """Aggregate tokens/s for each number of concurrent jobs. The most jobs asked for are started
    once (each builds its model and warms up); a level with n jobs lets the first n run together.
    CUDA workers are spawned (a fresh process each, as joblib's loky workers are); CPU workers are
    forked, which skips re-importing torch (the rehearsal stays short)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn" if device.type == "cuda" else "fork")
    pipes, procs = [], []
    for _ in range(max(c["jobs"])):
        a, b = ctx.Pipe()
        p = ctx.Process(target=worker, args=(b, c, str(device), c["seconds"]), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)
    out = []
    try:
        for i, conn in enumerate(pipes):
            if not conn.poll(600) or conn.recv() != "ready":
                raise RuntimeError(f"worker {i} of the concurrency benchmark failed to start")
        for n in c["jobs"]:
            for conn in pipes[:n]:  # all start together
                conn.send("go")
            res = [conn.recv() for conn in pipes[:n]]
            tps = sum(r["tokens"] / r["seconds"] for r in res)
            ms = statistics.mean(1e3 * r["seconds"] / r["steps"] for r in res)
            out.append({"jobs": n, "tokens_per_s": tps, "ms_per_step_per_job": ms})
        for conn in pipes:
            conn.send("quit")
        for p in procs:
            p.join(timeout=60)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    for r in out:
        r["speedup_vs_1_job"] = r["tokens_per_s"] / out[0]["tokens_per_s"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--tiny", action="store_true", help="a tiny configuration, for a CPU rehearsal")
    ap.add_argument("--out", default=None, help="directory for gpu_r2rt.json and the CSVs")
    ap.add_argument("--jobs", default=None, help="comma-separated numbers of concurrent jobs (default 1,2,4,8,16)")
    ap.add_argument("--seconds", type=float, default=None, help="run time of each concurrency level")
    ap.add_argument("--reps", type=int, default=None, help="timed epochs per loop in (a)")
    args = ap.parse_args(argv)
    c = dict(TINY if args.tiny else FULL)
    if args.jobs:
        c["jobs"] = tuple(int(j) for j in args.jobs.split(","))
    c["seconds"] = args.seconds or c["seconds"]
    c["reps"] = args.reps or c["reps"]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_r2rt: no CUDA device here: skipped (rehearse with --device cpu --tiny)")
        return 0
    torch.set_num_threads(1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU, 1 thread"
    shape = (f"{c['layers']} x {c['hidden']} LSTM, embedding {c['emb']}, vocabulary {c['vocab']}, batch {c['batch']}, "
             f"T={c['window']}")
    print(f"gpu_r2rt — {name}, torch {torch.__version__}; {shape}{' (tiny)' if args.tiny else ''}")
    ms = step_times(c, device)
    bare = ms["bare"]
    print(f"\n(a) step time, median of {c['reps']} epochs of {c['steps']} steps, same process")
    print(f"  {'strategy':<14} {'model ms':>9} {'harness ms':>11} {'harness / bare':>15}   (bare cuDNN: {bare:.2f} ms)")
    for s in STRATEGIES:
        print(f"  {s:<14} {ms[f'model/{s}']:9.2f} {ms[f'harness/{s}']:11.2f} {ms[f'harness/{s}'] / bare:15.3f}")
    jobs = concurrency(c, device)
    print(f"\n(b) throughput against concurrent jobs on one device ({c['seconds']:g} s each, harness loop, zero)")
    print(f"  {'jobs':>4} {'tokens/s':>12} {'speed-up':>9} {'ms/step/job':>12}")
    for r in jobs:
        print(f"  {r['jobs']:>4} {r['tokens_per_s']:12.0f} {r['speedup_vs_1_job']:9.2f} {r['ms_per_step_per_job']:12.2f}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res = {"device": name, "torch": torch.__version__, "config": c | {"jobs": list(c["jobs"])}, "tiny": args.tiny,
               "step": {"bare_ms": bare, "model": {s: ms[f"model/{s}"] for s in STRATEGIES},
                        "harness": {s: ms[f"harness/{s}"] for s in STRATEGIES},
                        "harness_over_bare": {s: ms[f"harness/{s}"] / bare for s in STRATEGIES}},
               "concurrency": jobs}
        (out / "gpu_r2rt.json").write_text(json.dumps(res, indent=1) + "\n")
        with open(out / "gpu_r2rt_steps.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["loop", "strategy", "ms_per_step", "ratio_to_bare"])
            w.writerow(["bare", "", f"{bare:.4f}", "1.0"])
            for k, v in ms.items():
                if k != "bare":
                    w.writerow([*k.split("/"), f"{v:.4f}", f"{v / bare:.4f}"])
        with open(out / "gpu_r2rt_jobs.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(jobs[0]))
            w.writeheader()
            w.writerows(jobs)
        print(f"\nwritten: {out}/gpu_r2rt.json, gpu_r2rt_steps.csv, gpu_r2rt_jobs.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
