#!/usr/bin/env bash
# The r2rt profile on a lent GPU machine, in one prepared script: the GPU benchmark, the sweep
# (experiments/train.py experiment=r2rt, many jobs sharing the GPU) and the analysis into
# results/r2rt, everything copied under $OUT. Within ~9.5 minutes (one device command may run 10).
#
# The GPU machine has torch 2.11, pandas, scipy, statsmodels, matplotlib, joblib, pyyaml and tqdm,
# but no hydra/omegaconf/wandb, and it reaches no package index and no network. So, once, HERE:
#
#   scripts/device_r2rt.sh prepare
#
# downloads the pure-Python wheels of hydra-core, omegaconf, antlr4 (built from its sdist) and the
# joblib launcher, and copies the Shakespeare texts and the word-level token cache, all into
# .cache/r2rt_device/ (ignored by git, ~11 MB). Then, through the device tool:
#
#   run(command="bash scripts/device_r2rt.sh", carry=[".cache/r2rt_device"], timeout_s=600)
#
# There, the wheels go to /tmp/r2rt_site (--no-index --no-deps: torch and the rest stay the
# image's), the code runs from src/ via PYTHONPATH (no `pip install -e`, which would need a build
# backend from the index), and wandb is off (logger=none; metrics.jsonl and summary.json are the
# records). $OUT receives: device_r2rt.log, REPORT.md, gpu_r2rt.json, results_r2rt.tar.gz
# (results/r2rt with bench/) and sweep_r2rt.tar.gz (the run records, without checkpoints).
#
# Rehearsal on a CPU (tiny corpus, vocabulary, model, 2 seeds, 3 epochs; writes under /tmp):
#
#   TINY=1 PYTHON=.venv/bin/python OUT=/tmp/r2rt_out scripts/device_r2rt.sh
#
# Knobs (environment): JOBS (default 16), STRATEGIES (a comma list; default: all five if the
# benchmark's throughput says 25 runs fit before the deadline, else the four of the blog),
# DEADLINE (seconds from start by which everything is packed, default 560), PYTHON (python3),
# SWEEPS_ROOT / RESULTS (where the sweep and the results go), TINY=1.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
CARRY=$ROOT/.cache/r2rt_device
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

if [[ "${1:-}" == "prepare" ]]; then
    set -e
    rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/initstate/shakespeare"
    "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$CARRY/wheels" \
        hydra-core==1.3.8 omegaconf==2.3.1 hydra-joblib-launcher==1.2.0
    "$PY" -m pip wheel -q --no-deps --no-binary=:all: -w "$CARRY/wheels" antlr4-python3-runtime==4.9.3
    SRC=${INITSTATE_CACHE:-$HOME/.cache/initstate}
    [[ -d "$SRC/shakespeare/texts" ]] || "$PY" -m replication.data.fetch
    cp -r "$SRC/shakespeare/texts" "$CARRY/initstate/shakespeare/"
    # the token cache (built in ~2 s if absent, but 16 jobs would all build it at once)
    INITSTATE_CACHE=$CARRY/initstate "$PY" -c "from replication.data.shakespeare_words import load; load(download=False)"
    ls -l "$CARRY/wheels"
    du -sh "$CARRY"
    echo "prepared $CARRY: now run(command=\"bash scripts/device_r2rt.sh\", carry=[\".cache/r2rt_device\"], timeout_s=600)"
    exit 0
fi

: "${OUT:?set OUT to the folder that receives the results}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device_r2rt.log") 2>&1
T0=$(date +%s)
DEADLINE=${DEADLINE:-560}
JOBS=${JOBS:-16}
since() { echo $(( $(date +%s) - T0 )); }
say() { echo "[$(since) s] $*"; }

if [[ -n "${TINY:-}" ]]; then
    SWEEPS_ROOT=${SWEEPS_ROOT:-/tmp/r2rt_rehearsal/sweeps}
    RESULTS=${RESULTS:-/tmp/r2rt_rehearsal/results/r2rt}
    JOBS=${TINY_JOBS:-2}
    BENCH_ARGS=(--device cpu --tiny)
    SWEEP_ARGS=(trainer.device=cpu data.vocab_size=500 scale.words_train_tokens=3060 scale.words_eval_tokens=1020
                model.hidden_size=32 model.embedding_dim=32 trainer.epochs=3 "seed=range(2)")
    rm -rf "$SWEEPS_ROOT/r2rt" "$RESULTS"
else
    SWEEPS_ROOT=${SWEEPS_ROOT:-sweeps}
    RESULTS=${RESULTS:-results/r2rt}
    BENCH_ARGS=()
    SWEEP_ARGS=()
fi

say "device_r2rt: $(hostname), $(nproc) cores, jobs $JOBS, deadline ${DEADLINE} s${TINY:+, TINY rehearsal}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

# 1. Python packages: the carried wheels, the code from src/, the carried data cache.
SITE=/tmp/r2rt_site
if compgen -G "$CARRY/wheels/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "$CARRY"/wheels/*.whl || { say "error: could not install the carried wheels"; exit 1; }
    export PYTHONPATH=$ROOT/src:$SITE${PYTHONPATH:+:$PYTHONPATH}
else
    say "no wheels in $CARRY/wheels (run 'scripts/device_r2rt.sh prepare' here first); using what is installed"
    export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH}
fi
[[ -d "$CARRY/initstate" ]] && export INITSTATE_CACHE=$CARRY/initstate
"$PY" - <<'EOF' || { say "error: the experiment stack does not import (see above)"; exit 1; }
import sys, torch, hydra, omegaconf, pandas, scipy, statsmodels, matplotlib
import hydra_plugins.hydra_joblib_launcher, replication.run, replication.analysis
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.cuda.is_available()}), hydra "
      f"{hydra.__version__} ({hydra.__file__}), omegaconf {omegaconf.__version__}, pandas {pandas.__version__}, "
      f"scipy {scipy.__version__}, statsmodels {statsmodels.__version__}, matplotlib {matplotlib.__version__}")
from replication.data.shakespeare_words import load
print("data:", load(vocab_size=10, download=False).info["cache"])
EOF

# 2. The benchmark: step-time ratio to bare cuDNN, throughput against jobs per GPU.
mkdir -p "$RESULTS/bench"
say "benchmark"
timeout --kill-after=10 "${BENCH_LIMIT:-150}" "$PY" benchmarks/gpu_r2rt.py "${BENCH_ARGS[@]}" --out "$RESULTS/bench" \
    || say "warning: the benchmark failed or ran out of time (exit $?)"
cp "$RESULTS/bench/gpu_r2rt.json" "$OUT/" 2>/dev/null

# 3. The sweep, cut at the deadline (seeds are outermost, so finished runs come in paired seeds).
SWEEP_LIMIT=$(( DEADLINE - $(since) - ${RESERVE:-75} ))
if [[ -z "${STRATEGIES:-}" ]]; then
    STRATEGIES=$("$PY" - "$RESULTS/bench/gpu_r2rt.json" "$SWEEP_LIMIT" "$JOBS" "${TINY:-}" <<'EOF'
import json, sys
five, four = "zero,noisy,learned,learned_noisy,adaptive", "zero,noisy,learned,learned_noisy"
try:
    res = json.load(open(sys.argv[1]))
    limit, jobs, tiny = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rows = [r for r in res["concurrency"] if r["jobs"] <= jobs]
    tps = max(r["tokens_per_s"] for r in rows)
    # 20 epochs of 935 k training tokens + the evaluation (~333 k tokens forward, ~1/3 of a step's cost)
    need = 25 * 20 * (935_290 + 333_000 / 3) / tps
    print(five if tiny or need < 0.85 * limit else four)
    print(f"estimated 25 runs at {tps:,.0f} tokens/s: {need:.0f} s for a limit of {limit:.0f} s", file=sys.stderr)
except Exception as e:  # no benchmark: the four of the blog, the protocol's core
    print(four)
    print(f"no throughput estimate ({e!r})", file=sys.stderr)
EOF
)
fi
say "sweep: strategies $STRATEGIES, $JOBS jobs, cut after $SWEEP_LIMIT s"
S0=$(date +%s)
# checkpoint=false: a fresh machine never resumes, and each epoch's 78 MB save (model + Adam) x 16 jobs
# only costs disk time (checkpoint is not part of the run key).
timeout --kill-after=20 "$SWEEP_LIMIT" "$PY" experiments/train.py experiment=r2rt logger=none trainer.checkpoint=false \
    "hydra.launcher.n_jobs=$JOBS" "paths.sweeps_root=$SWEEPS_ROOT" "init_state=$STRATEGIES" "${SWEEP_ARGS[@]}"
RC=$?
SWEEP_SECONDS=$(( $(date +%s) - S0 ))
DONE=$(find "$SWEEPS_ROOT/r2rt" -name summary.json 2>/dev/null | wc -l)
say "sweep exit $RC after $SWEEP_SECONDS s: $DONE runs finished$([[ $RC == 124 || $RC == 137 ]] && echo ', cut at the deadline')"

# 4. The analysis (protocol v2 + the r2rt section), then everything under $OUT.
if (( DONE > 0 )); then
    "$PY" experiments/analyze.py "$SWEEPS_ROOT/r2rt" "$RESULTS" --profile r2rt --v1 none \
        --sweep-seconds "$SWEEP_SECONDS" --command "scripts/device_r2rt.sh (experiments/train.py experiment=r2rt \
logger=none trainer.checkpoint=false hydra.launcher.n_jobs=$JOBS init_state=$STRATEGIES ${SWEEP_ARGS[*]}) on $(nvidia-smi \
--query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo 'a CPU')" \
        || say "warning: the analysis failed; the run records are in sweep_r2rt.tar.gz"
    cp "$RESULTS/REPORT.md" "$OUT/" 2>/dev/null
fi
tar czf "$OUT/results_r2rt.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")" 2>/dev/null
tar czf "$OUT/sweep_r2rt.tar.gz" --exclude=checkpoint.pt --exclude=wandb -C "$SWEEPS_ROOT" r2rt 2>/dev/null
ls -l "$OUT"
if [[ -f "$OUT/REPORT.md" ]]; then
    sed -n '/^\*\*Are r2rt/,/^### /p' "$OUT/REPORT.md" | head -12
fi
say "done in $(since) s"
