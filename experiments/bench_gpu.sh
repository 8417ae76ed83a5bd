#!/usr/bin/env bash
# Issue 15's GPU measurements in one prepared command (about 5 minutes on an
# H100): the exactness tests of the mask selection on the GPU, the mask
# variants (bench_masks.py), the step (bench_step.py) and the authors'
# PyTorch loop (bench_reference_torch.py). Needs jax with CUDA, flax, optax and
# torch; coprune_jax is imported from this checkout. Writes
# experiments/results/*_gpu.json and copies them to $OUT when that is set.
#
#   COMMIT=$(git rev-parse --short HEAD) bash experiments/bench_gpu.sh [--step-only]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
results=experiments/results
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "commit ${COMMIT:-unknown}"
if [ "${1:-}" != "--step-only" ]; then
  timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_topk.py \
    -k "per_layer_path or float64 or ties or infinities"
  python3 experiments/bench_masks.py --digit-bits 2 3 4 5 6 8 \
    --row-lengths 1024 4096 --json "$results/bench_masks_gpu.json"
  python3 experiments/bench_masks.py --skip-resnet --digit-bits 4 \
    --row-lengths 1024 --count-forms broadcast-major broadcast-minor
fi
python3 experiments/bench_step.py --resnet-steps 20 \
  --json "$results/bench_step_gpu.json"
if [ "${1:-}" != "--step-only" ]; then
  python3 experiments/bench_reference_torch.py \
    --json "$results/bench_reference_torch_gpu.json"
fi
if [ -n "${OUT:-}" ]; then cp "$results"/*_gpu.json "$OUT"/; fi
