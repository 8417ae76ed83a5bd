"""Benchmark: cooperative-step throughput vs device count on a mesh.

CIFAR-Net, 10.4% keep ratios, a global batch of 128 per domain split over
1, 2, 4, ... devices of the data axis (params, masks and Adam state
replicated; `--shard` adds FSDP-style rules). Median wall time per step after
warm-up, and examples per second (both domains).

On CPU the devices are emulated (they share the machine's cores), so the
figures check that the scaling code runs and what its overhead is, not a
speedup:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python experiments/bench_mesh.py
  python experiments/bench_mesh.py --shard conv3/kernel --shard fc1/kernel
"""

import argparse
import datetime
import platform
import statistics
import time

import jax
import jax.numpy as jnp

import coprune_jax as cj
from coprune_jax import sharding
from coprune_jax.models import CifarNet
from coprune_jax.train import protocol


def apply_fn(params, images):
  return CifarNet(num_classes=10).apply({"params": params}, images)


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch", type=int, default=128,
                      help="global batch per domain")
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--shard", action="append", default=[],
                      help="FSDP rule: shard arrays whose path matches")
  args = parser.parse_args()
  params = CifarNet(num_classes=10).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  ratios = cj.keep_ratio_tree(params, protocol.CIFAR_NET_KEEP_RATIOS_10_4)
  keys = jax.random.split(jax.random.key(1), 2)
  batch = (jax.random.normal(keys[0], (args.batch, 32, 32, 3)),
           jax.random.randint(keys[1], (args.batch,), 0, 10))
  counts = [n for n in (1, 2, 4, 8, 16, 32, 64)
            if n <= jax.device_count() and args.batch % n == 0]
  print(f"# {datetime.date.today()}, {platform.node()}, "
        f"{jax.devices()[0].device_kind} x {jax.device_count()}, "
        f"JAX {jax.__version__}; global batch {args.batch} per domain, "
        f"shard rules {args.shard or 'none'}")
  print("| devices | ms per step | examples/s (both domains) | vs 1 device |")
  print("|---|---|---|---|")
  baseline = None
  for count in counts:
    mesh = sharding.data_mesh(count)
    coprune = cj.published_coprune(ratios,
                                   cj.classification_objective(apply_fn))
    state = coprune.init(params, params, alpha=0.7)
    shardings = sharding.state_shardings(state, mesh, args.shard)
    step = sharding.sharded_step(coprune.step, shardings, mesh)
    state = jax.device_put(state, shardings)
    source, target = sharding.global_batch((batch, batch), mesh)
    times = []
    for i in range(args.warmup + args.steps):
      start = time.perf_counter()
      state, metrics = step(state, source, target)
      jax.block_until_ready((state, metrics))
      if i >= args.warmup:
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    baseline = baseline or seconds
    print(f"| {count} | {1e3 * seconds:.1f} | {2 * args.batch / seconds:,.0f} "
          f"| {baseline / seconds:.2f}x |")


if __name__ == "__main__":
  main()
