#!/usr/bin/env bash
# Issue 18's benchmark (bench_pruners.py) on a lent GPU, as one prepared
# command. CIFAR-10 (171 MB) cannot travel (64 MiB per call, the checkout
# included), so the run uses the class-balanced subset that
# experiments/cifar10_subset.py writes (12,000 training of which 2,000 for
# validation, 5,000 test: 46 MiB). Here, once:
#
#   python experiments/cifar10_subset.py --data-root ../shared/data \
#       --out gpu_data/cifar10_subset
#
# Then the device call, carrying gpu_data/cifar10_subset and gpu_data/wheels
# (ml_collections, which the image lacks):
#
#   SEEDS="0 1 2" bash experiments/gpu_pruners.sh --epochs 20
#
# Arguments go to bench_pruners.py. CIFAR-Net at batch 128 leaves an H100
# mostly idle, so every seed of SEEDS runs as its own process beside the
# others, with a slice of the GPU's memory (their per-run "seconds" then
# share the GPU: not timings). No run starts that would end past
# TIME_BUDGET seconds (450 by default); a last pass that trains nothing
# writes the summary (.json, .md) of the runs that finished. It, the log
# and the per-run files with their curves (runs.tgz) come back in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
source experiments/gpu_env.sh
data_root=${DATA_ROOT:-gpu_data/cifar10_subset}
out=${OUT:-runs/gpu_pruners}
budget=${TIME_BUDGET:-450}
work=/tmp/bench_pruners
seeds=${SEEDS:-0}
mkdir -p "$out" "$work"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.15
bench=(python3 experiments/bench_pruners.py --data-root "$data_root"
       --num-val 2000 --workdir "$work")
{
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null
  echo "commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  for seed in $seeds; do
    timeout $(( budget + 90 )) "${bench[@]}" --time-budget "$budget" \
      --seeds "$seed" "$@" > "$work/seed$seed.log" 2>&1 &
  done
  wait
  grep -hv "^|\|^$\|^Test accuracy" "$work"/seed*.log
  "${bench[@]}" --time-budget 0 --seeds $seeds --out "$out/pruners_cifar10_subset" "$@"
  echo "exit $?"
} 2>&1 | grep -v "Warning\|warnings.warn" | tee "$out/gpu_pruners.log"
tar czf "$out/runs.tgz" -C /tmp bench_pruners
