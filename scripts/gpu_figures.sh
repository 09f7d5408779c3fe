#!/usr/bin/env bash
# The GPU figures of the README, on one machine with a GPU and JAX's CUDA build:
#
#   scripts/gpu_figures.sh [OUT_DIR]      # default runs/gpu-figures; PYTHON=... to choose
#
# 1. the default config's training speed on the GPU alone (the benchmark's train_default
#    worker: real target tokens/s and ms/step after an untimed pass that compiles);
# 2. `make train-gpu`'s command (configs/gpu.yaml into runs/gpu), timed as a whole, and beside
#    it the same config with a 30-epoch cap (runs/gpu-long), to see on the validation split
#    whether the 5-minute budget has room for a longer schedule;
# 3. configs/gpu.yaml's training speed (the benchmark's train_gpu worker).
# Every figure lands in OUT_DIR as it comes, so a run cut short keeps what it measured.
set -u
out=${1:-runs/gpu-figures}
python=${PYTHON:-$( [ -x .venv-gpu/bin/python ] && echo .venv-gpu/bin/python || echo python3)}
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p "$out"
summary=$out/summary.txt

note() { echo "$*" | tee -a "$summary"; }
seconds() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$python" -c "import sys, jax, keras; print(sys.version.split()[0], 'jax', jax.__version__, \
'keras', keras.__version__, jax.devices())"
} >>"$summary" 2>&1 || note "error: no GPU or no JAX here"
cat "$summary"

bench() {  # one training part of the benchmark, as a JSON line
    local started; started=$(seconds)
    timeout "$2" "$python" -m scripts.benchmark --worker "train:$1" 2>"$out/bench-$1.err" \
        | tail -1 >>"$out/bench.jsonl"
    note "bench $1: exit ${PIPESTATUS[0]}, $(since "$started") s"
    tail -1 "$out/bench.jsonl"
}

bench train_default 150

train() {  # RUN_DIR LOG [--set ...]: the training command, timed from start to exit
    local run=$1 log=$2; shift 2
    rm -rf "$run"
    local started; started=$(seconds)
    timeout 480 "$python" -m translator train --config configs/gpu.yaml --run-dir "$run" "$@" \
        >"$out/$log" 2>&1
    note "$run: exit $?, whole command $(since "$started") s"
}
train runs/gpu train-gpu.log &
train runs/gpu-long train-gpu-long.log --set train.epochs=30 &
wait
for run in gpu gpu-long; do
    grep -h -E "^(planned|revised|epoch [0-9]+:|test:)|stopp|budget" "$out/train-$run.log" \
        | sed "s/^/$run: /" | tee -a "$summary"
    cp "runs/$run/metrics.csv" "$out/metrics-$run.csv" 2>/dev/null
done

bench train_gpu 150
