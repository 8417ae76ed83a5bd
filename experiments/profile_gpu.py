"""Profile: where the device time of each program of bench_step.py goes.

Traces a few iterations of every program that `bench_step.py` times (two
dense steps, the cooperative step, the cooperative step with fixed masks,
the masks alone) with `jax.profiler`, then sums the device events of the
trace by kernel name. Printed per program: kernels launched per iteration,
device-busy time per iteration against wall time, and the kernels that take
the most time. This says, on a GPU, whether a program is bound by its
kernels or by launching them, and which kernels cost more in the cooperative
step than in two dense steps. On a CPU the trace holds no per-kernel device
events and only the wall times are printed.

  python experiments/profile_gpu.py [--iterations 5] [--top 12] [--json out.json]
"""

import argparse
import collections
import glob
import gzip
import json
import os
import sys
import tempfile
import time

import jax

import coprune_jax as cj

sys.path.insert(0, os.path.dirname(__file__))
from bench_step import model_setups, step_programs  # pylint: disable=g-import-not-at-top


def device_events(trace_dir):
  """(name, duration in us) of every event on a device ('/device:...')."""
  path, = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"),
                    recursive=True)
  with gzip.open(path) as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  device_pids = {e["pid"] for e in events
                 if e.get("ph") == "M" and e.get("name") == "process_name"
                 and e["args"]["name"].startswith("/device:")}
  return [(e["name"], e["dur"]) for e in events
          if e.get("ph") == "X" and e["pid"] in device_pids]


def profile(program, iterations, top):
  program()  # compile and warm up outside the trace
  program()
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      start = time.perf_counter()
      for _ in range(iterations):
        program()
      wall = time.perf_counter() - start
    events = device_events(trace_dir)
  by_name = collections.defaultdict(lambda: [0, 0.0])
  for name, duration in events:
    by_name[name][0] += 1
    by_name[name][1] += duration
  busiest = sorted(by_name.items(), key=lambda item: -item[1][1])[:top]
  return {
      "wall_ms_per_iteration": wall / iterations * 1e3,
      "device_events_per_iteration": len(events) / iterations,
      "device_busy_ms_per_iteration":
          sum(d for _, d in events) / iterations / 1e3,
      "top_events": [{"name": name, "per_iteration": count / iterations,
                      "ms_per_iteration": total / iterations / 1e3}
                     for name, (count, total) in busiest],
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--iterations", type=int, default=5)
  parser.add_argument("--top", type=int, default=12)
  parser.add_argument("--resnet-batch", type=int, default=128)
  parser.add_argument("--json", help="write the profile to this file")
  args = parser.parse_args()
  report = {"device": jax.devices()[0].device_kind,
            "jax_version": jax.__version__,
            "commit": os.environ.get("COMMIT", "unknown")}
  print(report)
  for name, (_, apply_fn, params, model_state, rules, batches,
             has_model_state) in model_setups(args.resnet_batch).items():
    ratios = cj.keep_ratio_tree(params, rules)
    programs = step_programs(apply_fn, params, model_state, ratios, batches,
                             has_model_state, compare_sort=False)
    report[name] = {}
    for program_name, program in programs.items():
      result = profile(program, args.iterations, args.top)
      report[name][program_name] = result
      print(f"\n{name}, {program_name}: wall "
            f"{result['wall_ms_per_iteration']:.3f} ms, device busy "
            f"{result['device_busy_ms_per_iteration']:.3f} ms in "
            f"{result['device_events_per_iteration']:.0f} events per iteration")
      for event in result["top_events"]:
        print(f"  {event['ms_per_iteration']:8.3f} ms "
              f"{event['per_iteration']:5.1f}x  {event['name'][:90]}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
