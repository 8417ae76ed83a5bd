#!/usr/bin/env bash
# Issue 16's tables on a lent GPU, as one prepared command: each table given
# as CONFIG[:ARG] runs under its own time limit (TABLE_TIMEOUT seconds, 240
# by default) with --resume, so a table cut short keeps its finished cells.
# The data comes as a carried folder (DATA_ROOT, default gpu_data/ in the
# checkout: digits/mnist.npz, usps.h5, mnist_m_test.npz) and ml_collections
# as a wheel in gpu_data/wheels (experiments/gpu_env.sh). Tables and
# cells are copied to $OUT when that is set (the device tool).
#
#   bash experiments/gpu_tables.sh experiments/configs/table_mnist_usps.py:30 \
#       experiments/configs/table_mnist_usps.py:30,reference
set -uo pipefail
cd "$(dirname "$0")/.."
source experiments/gpu_env.sh
data_root=${DATA_ROOT:-gpu_data}
out=${OUT:-runs/gpu_tables}
mkdir -p "$out"
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | tee "$out/device.txt"
echo "commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}" | tee -a "$out/device.txt"
for table in "$@"; do
  name=$(basename "${table%%.py*}")${table#*.py}
  name=${name//[:,]/_}
  workdir=runs/gpu_tables/$name
  start=$(date +%s)
  resume=$([ -f "$workdir/config.json" ] && echo --resume)
  # EXTRA_ARGS: e.g. "--set seeds=(0,)" (split on spaces).
  timeout "${TABLE_TIMEOUT:-240}" python3 experiments/run_table.py "$table" \
    --workdir "$workdir" --data-root "$data_root" --results-dir "$out/$name" \
    --no-progress $resume ${EXTRA_ARGS:-} 2>&1 | grep -v "Warning\|warnings.warn" | tail -20
  echo "$table: exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s" | tee -a "$out/device.txt"
  # A table cut short: write what its finished cells say.
  python3 experiments/run_table.py "$table" --workdir "$workdir" \
    --data-root "$data_root" --results-dir "$out/$name" --report-only \
    ${EXTRA_ARGS:-} > /dev/null 2>&1
  mkdir -p "$out/$name" && cp -r "$workdir/cells" "$out/$name/" 2>/dev/null
done
