#!/usr/bin/env bash
# One lent-GPU call for issues 15 and 16 (a session has 15 device minutes):
# first issue 15's measurements alone (bench_gpu.sh: timings need the GPU to
# themselves), then issue 16's label-budget tables, one process per (table,
# seed) side by side, each with a slice of the GPU's memory and its own
# workdir (runs/gpu_session/NAME/by_seed/SEED), all stopped DEADLINE seconds
# after the start. Tables run with --resume, so a cell cut short is the
# only loss, and each table's report is then written from its seeds'
# finished cells. What comes back in $OUT (the device returns at most 8
# files): gpu_session.tgz (reports, every seed's cells, metrics log and
# config, logs, the GPU's utilisation and the host's load while the tables
# ran) and one starts_NAME.tgz per table (the pretrained sources'
# and fine-tuned targets' checkpoints). Carry gpu_data/digits and
# gpu_data/wheels, and runs/gpu_session/NAME of tables begun earlier:
#
#   COMMIT=$(git rev-parse --short HEAD) bash experiments/gpu_session.sh
#
# then here `bash experiments/gpu_restore.sh FILES_AT` unpacks both into
# runs/gpu_session/, so that the next call goes on from the same cells and
# starts; `python experiments/phase_times.py runs/gpu_session/*/by_seed/*`
# then says where each seed's time went (logs since 2026-11-28). (Until
# 2026-11-27 one process ran all seeds of a table and no checkpoints came
# back: a missing cell of such a seed retrains its start.)
#
# TABLES, SEEDS ("0 1 2" by default), METHODS, SETTINGS, TABLE_ARGS (one
# --set per word, after the defaults below), SUFFIX (of the tables' names,
# _p40_pruned by default: the committed _p40 tables ran before
# prune.initial_masks defaulted to "pruned") and SKIP_BENCH=1 choose other
# cells, or make a CPU smoke run possible. E.g. the 100-label cells of
# issue 16 (begun at 96f0e7a; its seed 0 brought no starts back and is
# redone). Seeds 3-5 of MNIST -> USPS and MNIST -> MNIST-M run on the CPU
# (RESULTS, "at a glance"); the GPU's first use there is USPS -> MNIST-M's:
#
#   SKIP_BENCH=1 SEEDS="3 4 5" METHODS="alpha0 dns coprune_source10" \
#     SETTINGS="1.35 10.4" TABLES="table_usps_mnistm_labels.py:100" \
#     bash experiments/gpu_session.sh
#
# and the 30-label cells at 10.4% (`SETTINGS="10.4" SUFFIX=_p40_10_4`, the
# three 30-label tables). Earlier calls, one process a table: the default
# four tables (1.35%, 10 and 30 labels), and the source trained 10 steps
# per target step at 30 labels (at 1413982 with DEADLINE=250 it finished
# seed 0 of each table only):
#
#   SKIP_BENCH=1 METHODS="coprune alpha0 dns coprune_source10" \
#     TABLES="table_mnist_usps.py:30 table_mnist_mnistm.py:30 \
#     table_usps_mnistm_labels.py:30" bash experiments/gpu_session.sh
#
# Not yet run: stages of at least 300 steps (at 5 and 10 labels the
# 100-epoch cap is 100 steps):
#
#   SKIP_BENCH=1 METHODS="alpha0 dns coprune_source10" SUFFIX=_p40_steps300 \
#     TABLE_ARGS="prune.max_steps_per_stage=300" TABLES="table_mnist_usps.py:5 \
#     table_mnist_mnistm.py:5 table_usps_mnistm_labels.py:5 table_mnist_usps.py:10 \
#     table_mnist_mnistm.py:10 table_usps_mnistm_labels.py:10" \
#     bash experiments/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
deadline=${DEADLINE:-540}
out=${OUT:-/tmp/gpu_session_out}
stage=/tmp/gpu_session
rm -rf "$stage" && mkdir -p "$stage" "$out"
source experiments/gpu_env.sh

if [ -z "${SKIP_BENCH:-}" ]; then
  OUT=$stage/bench bash experiments/bench_gpu.sh > /dev/null 2>&1 \
    || echo "bench_gpu.sh failed" >> "$stage/session.log"
fi
echo "bench done after $(( $(date +%s) - start )) s" >> "$stage/session.log"

# By default the issue's goal cell: 1.35% with at most 30 labels per class,
# four methods. Patience and the alpha probe in steps so that 1- or 2-step
# epochs neither cut every stage short nor probe at chance. SETTINGS: keep
# settings by name (1.35 10.4).
methods=$(printf "'%s'," ${METHODS:-coprune alpha0 dns coprune_alpha_val})
keep=$(python3 -c "import sys; from coprune_jax.train import protocol as p
names = sys.argv[1:]
settings = [("1.35", p.CIFAR_NET_KEEP_RATIOS_1_35), ("10.4", p.CIFAR_NET_KEEP_RATIOS_10_4)]
print(repr([s for s in settings if s[0] in names]).replace(' ', ''))
" ${SETTINGS:-1.35})
sets=(--set prune.patience_steps=40
      --set methods.coprune_alpha_val.alpha_probe_steps=40
      --set "table.methods=(${methods})"
      --set "table.keep_settings=$keep")
for word in ${TABLE_ARGS:-}; do sets+=(--set "$word"); done
tables=${TABLES:-"table_mnist_usps.py:30 table_mnist_mnistm.py:30 table_usps_mnistm_labels.py:30 table_mnist_usps.py:10"}
seeds=${SEEDS:-"0 1 2"}
left=$(( deadline - ($(date +%s) - start) - 25 ))
# One process per (table, seed), each with its own workdir under by_seed/
# (a table's metrics log takes one writer): a table's seeds run side by
# side, as its steps are too small to fill the GPU. The GPU's memory is
# shared out between them.
num_runs=$(( $(wc -w <<< "$tables") * $(wc -w <<< "$seeds") ))
export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / $num_runs, 3))")
table_name() { local name=${1%%.py*}${1#*.py}; echo "${name//[:,]/_}${SUFFIX:-_p40_pruned}"; }
# Beside each epoch's seconds in the metrics logs: is the GPU busy while
# the processes share it, or are they waiting on the host? The GPU's
# utilisation and the host's load average, every 2 s.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader \
  -l 2 > "$stage/gpu_utilization.csv" 2>/dev/null &
monitors=($!)
while sleep 2; do echo "$(date +%s) $(cut -d' ' -f1 /proc/loadavg)"; done \
  > "$stage/host_load.txt" &
monitors+=($!)
runs=()
for table in $tables; do
  name=$(table_name "$table")
  for seed in $seeds; do
    w=runs/gpu_session/$name/by_seed/$seed
    (
      resume=$([ -f "$w/config.json" ] && echo --resume)
      timeout "$left" python3 experiments/run_table.py "experiments/configs/$table" \
        --workdir "$w" --data-root gpu_data --results-dir "/tmp/by_seed/$name/$seed" \
        --no-progress "${sets[@]}" --set "table.name='$name'" --set "seeds=($seed,)" \
        $resume > "$stage/${name}_seed$seed.log" 2>&1
      echo "$table seed $seed: exit $? after $(( $(date +%s) - start )) s" >> "$stage/session.log"
    ) &
    runs+=($!)
  done
done
wait "${runs[@]}"
kill "${monitors[@]}" 2>/dev/null
awk -F', ' '{sub(/ %/, "", $2); busy += $2; n++}
  END {if (n) printf "GPU utilisation while the tables ran: %.0f%% on average (%d samples)\n", busy / n, n}' \
  "$stage/gpu_utilization.csv" >> "$stage/session.log"
awk '{load += $2; n++} END {if (n) printf "host load average: %.1f on average (%d samples, %s cores)\n", load / n, n, cores}' \
  cores="$(nproc)" "$stage/host_load.txt" >> "$stage/session.log"

# Each table's seeds together: their cells in one workdir, reported once.
# What comes back: the report, every seed's cells, metrics log and config,
# and (one tarball per table) the checkpoints of the pretrained source and
# fine-tuned target, so that a later call goes on from the same starts.
for table in $tables; do
  name=$(table_name "$table")
  merged=runs/gpu_session/$name
  mkdir -p "$merged/cells" "$stage/$name" "$stage/starts_$name"
  for w in "$merged"/by_seed/*; do
    [ -f "$w/config.json" ] || continue
    seed=$(basename "$w")
    cp -r "$w/cells/." "$merged/cells/" 2>/dev/null
    cp "$w/config.json" "$merged/config.json"
    mkdir -p "$stage/$name/by_seed/$seed"
    cp -r "$w/cells" "$w/metrics.jsonl" "$w/config.json" "$stage/$name/by_seed/$seed/" 2>/dev/null
    for d in "$w"/seed_*; do  # unpacked into runs/gpu_session/NAME/by_seed/
      mkdir -p "$stage/starts_$name/$seed/${d##*/}"
      cp -r "$d/pretrain" "$d/finetune" "$stage/starts_$name/$seed/${d##*/}/" 2>/dev/null
    done
  done
  python3 experiments/run_table.py "experiments/configs/$table" --workdir "$merged" \
    --data-root gpu_data --results-dir "$stage/$name" --no-progress "${sets[@]}" \
    --set "table.name='$name'" --set "seeds=($(tr ' ' , <<< "$seeds"),)" \
    --report-only > "$stage/$name.log" 2>&1
  tar czf "$out/starts_$name.tgz" -C "$stage" "starts_$name"
  rm -rf "$stage/starts_$name"
done
{ nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null
  echo "commit ${COMMIT:-unknown}, $(( $(date +%s) - start )) s"; } >> "$stage/session.log"
tar czf "$out/gpu_session.tgz" -C "$stage" .
cat "$stage/session.log"
tail -n 30 "$stage"/bench/bench_gpu.log 2>/dev/null
