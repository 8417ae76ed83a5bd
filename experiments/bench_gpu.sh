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
    -m "slow or not slow" -k "per_layer_path or float64 or ties or infinities or blocks"
  # The Pallas count (the library's default on CUDA since 87c4279: 2-bit
  # digits, one row a program) with blocks of rows a program, at 2- and
  # 4-bit digits (8-bit: 17 ms on ResNet-18 at 96f0e7a), then XLA's
  # variadic form; and where one selection's time goes with the default.
  timeout 180 python3 experiments/bench_masks.py --steps 20 \
    --count-forms pallas variadic --digit-bits 2 4 --row-lengths 1024 \
    --rows-per-program 1 4 16 --stages --json "$results/bench_masks_gpu.json"
  timeout 120 python3 experiments/bench_step.py --resnet-steps 20 \
    --json "$results/bench_step_gpu.json"
  # The step with another count (GPU_COUNT: FORM:BITS[:ROWS]; unset, the
  # fastest Pallas variant of bench_masks on ResNet-18 if it is not the
  # default, else XLA's 4-bit form, the default until 87c4279).
  gpu_count=${GPU_COUNT:-$(python3 -c "import json, re, sys
times = json.load(open(sys.argv[1]))['resnet18_ms']
best = min((v, k) for k, v in times.items() if 'pallas' in k and v)[1]
bits, rows = re.match(r'(\d+)-bit.*?(?:, (\d+) rows a program)?$', best).groups()
print('xla:4' if (bits, rows) == ('2', None) else f'pallas:{bits}:{rows or 1}')
" "$results/bench_masks_gpu.json" 2>/dev/null || echo xla:4)}
  echo "step with the count $gpu_count"
  timeout 100 python3 experiments/bench_step.py --resnet-steps 20 \
    --no-sort-baseline --gpu-count "$gpu_count" \
    --json "$results/bench_step_other_count_gpu.json"
  timeout 40 python3 experiments/bench_reference_torch.py \
    --json "$results/bench_reference_torch_gpu.json"
  if [ "${1:-}" = "--profile" ]; then
    timeout 150 python3 experiments/profile_gpu.py \
      --json "$results/profile_gpu.json"
  fi
} 2>&1 | grep --line-buffered -v "Warning\|warnings.warn" | tee "$log"
if [ -n "${OUT:-}" ]; then cp "$results"/*_gpu.json "$OUT"/; fi
