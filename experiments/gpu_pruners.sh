#!/usr/bin/env bash
# Issue 18's benchmark (bench_pruners.py) on a lent GPU, as one prepared
# command. CIFAR-10 (171 MB) cannot travel in one call (64 MiB per call, the
# checkout included), so by default the run uses the class-balanced subset
# that experiments/cifar10_subset.py writes (12,000 training of which 2,000
# for validation, 5,000 test: 46 MiB). Here, once:
#
#   python experiments/cifar10_subset.py --data-root ../shared/data \
#       --out gpu_data/cifar10_subset
#
# Then the device call, carrying gpu_data/cifar10_subset and gpu_data/wheels
# (ml_collections, which the image lacks):
#
#   SEEDS="0 1 2" bash experiments/gpu_pruners.sh --epochs 20
#
# The whole of CIFAR-10 travels in parts, one call each, on a machine kept
# warm (files a call brings stay there for the next). Here, once:
#
#   split -b 50M -d -a 1 ../shared/data/cifar10/cifar10_jpeg.npz gpu_data/cifar10_part_
#
# then calls `ls gpu_data` (are the earlier parts still there?) carrying
# gpu_data/cifar10_part_0, _1 and _2 in turn, and
# last one carrying gpu_data/cifar10_part_3 and gpu_data/wheels that joins
# the parts, checks them (sha256 of the file here: 08a1f201c3a81ba6f5fe8f48
# 94c7ac15866aa02cefbc16456608affe9743ecff) and runs:
#
#   f=gpu_data/cifar10_full/cifar10/cifar10_jpeg.npz; mkdir -p ${f%/*}
#   cat gpu_data/cifar10_part_? > $f; sha256sum $f
#   DATA_ROOT=gpu_data/cifar10_full NUM_VAL=5000 NAME=pruners_cifar10 \
#     SEEDS="0 1 2" bash experiments/gpu_pruners.sh --epochs 20
#
# Arguments go to bench_pruners.py. CIFAR-Net at batch 128 leaves an H100
# mostly idle, so every (seed, method) of SEEDS and METHODS runs as its own
# process beside the others, with a slice of the GPU's memory (their
# per-run "seconds" then share the GPU: not timings). No run starts that
# would end past TIME_BUDGET seconds (450 by default); a last pass that
# trains nothing writes the summary (NAME.json, .md) of the runs that
# finished. It, the log and the per-run files with their curves (runs.tgz)
# come back in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
source experiments/gpu_env.sh
data_root=${DATA_ROOT:-gpu_data/cifar10_subset}
out=${OUT:-runs/gpu_pruners}
budget=${TIME_BUDGET:-450}
work=/tmp/bench_pruners
seeds=${SEEDS:-0}
methods=${METHODS:-dense gradual_magnitude rigl sparse_evolutionary dynamic_magnitude}
mkdir -p "$out" "$work"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.05
bench=(python3 experiments/bench_pruners.py --data-root "$data_root"
       --num-val "${NUM_VAL:-2000}" --workdir "$work" --no-progress)
{
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null
  echo "commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  for seed in $seeds; do
    for method in $methods; do
      timeout $(( budget + 90 )) "${bench[@]}" --time-budget "$budget" \
        --seeds "$seed" --methods "$method" "$@" \
        > "$work/seed${seed}_$method.log" 2>&1 &
    done
  done
  wait
  grep -hv "^|\|^$\|^Test accuracy" "$work"/seed*.log
  "${bench[@]}" --time-budget 0 --seeds $seeds --methods $methods \
    --out "$out/${NAME:-pruners_cifar10_subset}" "$@"
  echo "exit $?"
} 2>&1 | grep -v "Warning\|warnings.warn" | tee "$out/gpu_pruners.log"
tar czf "$out/runs.tgz" -C /tmp bench_pruners
