#!/usr/bin/env bash
# What JAX's persistent compilation cache (JAX_COMPILATION_CACHE_DIR) saves
# a table run: a tiny MNIST -> USPS table (one source epoch on 2% of MNIST,
# two fine-tuning epochs, alpha = 0, DNS and Co-Prune with 10 source steps
# per target step, two stages of at most 3 epochs) run twice into fresh
# workdirs with one fresh cache. Prints each run's wall time, the number of
# programs compiled and their compile seconds (JAX_LOG_COMPILES), and
# whether the two tables are identical. About 20 minutes on 2 CPU cores.
#
#   bash experiments/compile_cache_check.sh [DATA_ROOT] [WORK]
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data}
work=${2:-/tmp/compile_cache_check}
python=${PYTHON:-.venv/bin/python}
rm -rf "$work" && mkdir -p "$work"
for run in first second; do
  w=$work/$run
  start=$(date +%s)
  JAX_COMPILATION_CACHE_DIR=$work/cache JAX_LOG_COMPILES=1 $python \
    experiments/run_table.py experiments/configs/table_mnist_usps.py:100 \
    --workdir "$w" --data-root "$data" --results-dir "$w/results" --no-progress \
    --set "seeds=(0,)" --set source.val_fraction=0.98 --set pretrain.epochs=1 \
    --set finetune.epochs=2 --set prune.max_epochs_per_stage=3 \
    --set "prune.alphas=(0.7,0.5)" \
    --set "table.methods=('alpha0','dns','coprune_source10')" \
    --set "table.keep_settings=[('1.35',[('conv1/kernel',0.2),('.*kernel',0.01)])]" \
    > "$w.log" 2>&1 || { echo "$run run failed: $w.log"; exit 1; }
  grep "Finished XLA compilation" "$w.log" | awk -v run=$run \
    -v wall=$(( $(date +%s) - start )) \
    '{sub(/ sec$/, ""); total += $NF; n++}
     END {printf "%s run: %d s wall, %d programs compiled in %.1f s\n", run, wall, n, total}'
done
cmp -s "$work"/first/results/mnist_usps_100_seeds.csv \
  "$work"/second/results/mnist_usps_100_seeds.csv \
  && echo "cells identical" || echo "cells differ"
