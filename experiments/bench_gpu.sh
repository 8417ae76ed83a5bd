#!/usr/bin/env bash
# Issue 15's GPU measurements as one prepared command, under 8 minutes on an
# H100: the exactness tests of the mask selection on the GPU, the mask
# variants (bench_masks.py), the step (bench_step.py) and the authors' PyTorch
# loop (bench_reference_torch.py); with --profile also the kernels of every
# step program (profile_gpu.py, about 2 minutes more). Needs jax with CUDA,
# flax, optax and torch (the device image has them); coprune_jax is imported
# from this checkout. Writes experiments/results/*_gpu.json and copies them
# and the log to $OUT when that is set (the device tool). Every stage has its
# own time limit, so that one slow compile cannot take the others' results
# with it (a first try with 6- and 8-bit digits, 63- and 255-way reductions,
# got nothing back in 9 min).
#
#   COMMIT=$(git rev-parse --short HEAD) bash experiments/bench_gpu.sh [--profile]
#
# (carry gpu_data/wheels: see experiments/gpu_env.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
source experiments/gpu_env.sh
results=experiments/results
[ -n "${OUT:-}" ] && mkdir -p "$OUT"
# Only figures of this run come back: drop the committed ones first.
rm -f "$results"/*_gpu.json
log=${OUT:-/tmp}/bench_gpu.log
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "commit ${COMMIT:-unknown}"
  # SKIP_EXACTNESS=1 where topk.py has not changed since they last passed
  # on a GPU (a minute of device time).
  [ -z "${SKIP_EXACTNESS:-}" ] && timeout 90 python3 -m pytest -q \
    -p no:cacheprovider tests/core/test_topk.py tests/core/test_pallas_count.py \
    -m "slow or not slow" -k "per_layer_path or float64 or ties or infinities"
  # The Pallas count (the library's default on CUDA since 96f0e7a: 2-bit
  # digits) at 2, 4 and 8 bits, then XLA's variadic form.
  timeout 150 python3 experiments/bench_masks.py --steps 20 \
    --count-forms pallas variadic --digit-bits 2 4 8 --row-lengths 1024 \
    --json "$results/bench_masks_gpu.json"
  timeout 120 python3 experiments/bench_step.py --resnet-steps 20 \
    --json "$results/bench_step_gpu.json"
  # The step with the other count form (GPU_COUNT: FORM:BITS; XLA's
  # variadic reduction at 4-bit digits, the default until 96f0e7a, unless
  # set), to see that the library's default still wins.
  timeout 100 python3 experiments/bench_step.py --resnet-steps 20 \
    --no-sort-baseline --gpu-count "${GPU_COUNT:-xla:4}" \
    --json "$results/bench_step_other_count_gpu.json"
  timeout 40 python3 experiments/bench_reference_torch.py \
    --json "$results/bench_reference_torch_gpu.json"
  if [ "${1:-}" = "--profile" ]; then
    timeout 150 python3 experiments/profile_gpu.py \
      --json "$results/profile_gpu.json"
  fi
} 2>&1 | grep --line-buffered -v "Warning\|warnings.warn" | tee "$log"
if [ -n "${OUT:-}" ]; then cp "$results"/*_gpu.json "$OUT"/; fi
