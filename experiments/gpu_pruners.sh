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
#   bash experiments/gpu_pruners.sh --seeds 0 --epochs 20
#
# Arguments go to bench_pruners.py. Its per-run files stay on the device
# (/tmp): only the summary (.json, .md) and the log come back in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
source experiments/gpu_env.sh
data_root=${DATA_ROOT:-gpu_data/cifar10_subset}
out=${OUT:-runs/gpu_pruners}
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null
  echo "commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  timeout "${BENCH_TIMEOUT:-500}" python3 experiments/bench_pruners.py \
    --data-root "$data_root" --num-val 2000 --workdir /tmp/bench_pruners \
    --out "$out/pruners_cifar10_subset" "$@"
  echo "exit $?"
} 2>&1 | grep -v "Warning\|warnings.warn" | tee "$out/gpu_pruners.log"
