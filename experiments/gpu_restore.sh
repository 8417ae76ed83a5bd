#!/usr/bin/env bash
# Unpacks what gpu_session.sh returned (gpu_session.tgz and starts_*.tgz in
# DIR, e.g. the device tool's files_at) into runs/gpu_session/, so that the
# next device call, carrying runs/gpu_session/NAME, goes on from the same
# cells and starts:
#
#   bash experiments/gpu_restore.sh /work/.device/N
#
# Reports stay in DIR: copy them to experiments/results/ yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
stage=$(mktemp -d)
tar xzf "$dir/gpu_session.tgz" -C "$stage"
for table in "$stage"/*/by_seed; do
  [ -d "$table" ] || continue
  name=$(basename "$(dirname "$table")")
  mkdir -p "runs/gpu_session/$name/by_seed"
  cp -r "$table/." "runs/gpu_session/$name/by_seed/"
done
for starts in "$dir"/starts_*.tgz; do
  [ -f "$starts" ] || continue
  name=$(basename "$starts" .tgz); name=${name#starts_}
  tar xzf "$starts" -C "$stage"
  cp -r "$stage/starts_$name/." "runs/gpu_session/$name/by_seed/"
done
rm -rf "$stage"
ls -d runs/gpu_session/*/by_seed/* 2>/dev/null || echo "no table cells restored"
