"""Where a run's time goes: wall time per (seed, phase) from its metrics logs.

Sums the `seconds` every epoch record carries (training and evaluation,
not checkpoints; a phase's first epoch includes compiling its programs)
over each phase of one or more run or table workdirs, e.g. every seed of a
GPU call:

  python experiments/phase_times.py runs/gpu_session/*/by_seed/*

Logs written before the records had `seconds` (2026-11-28) show only
their epoch counts.
"""

import argparse
import os
import sys

from coprune_jax.train.metrics_log import read_records


def phase_times(records) -> dict:
  """{(seed, phase): (epochs, seconds or None)} in the order phases ran."""
  times = {}
  for record in records:
    key = (record.get("seed"), record["phase"])
    epochs, seconds = times.get(key, (0, 0.0))
    if seconds is not None and "seconds" in record:
      seconds += record["seconds"]
    else:
      seconds = None  # an epoch of an older log: the sum would be partial
    times[key] = (epochs + 1, seconds)
  return times


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdirs", nargs="+",
                      help="directories holding a metrics.jsonl")
  args = parser.parse_args(argv)
  print("| workdir | seed | phase | epochs | seconds | seconds per epoch |")
  print("|---|---|---|---|---|---|")
  for workdir in args.workdirs:
    path = os.path.join(workdir, "metrics.jsonl")
    for (seed, phase), (epochs, seconds) in phase_times(
        read_records(path)).items():
      timing = ("| | " if seconds is None
                else f"| {seconds:.1f} | {seconds / epochs:.3f} ")
      print(f"| {workdir} | {seed} | {phase} | {epochs} {timing}|")
  return 0


if __name__ == "__main__":
  sys.exit(main())
