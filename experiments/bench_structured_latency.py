"""Benchmark: inference latency of channel-pruned, physically shrunk models.

For CIFAR-Net and ResNet-18 (CIFAR stem), keeps channels by L1 norm under a
global FLOP budget (`coprune_jax.structured`; channel counts free, or
multiples of 16), cuts them out, and times the
jitted eval forward pass of the dense and the shrunk model at batch 1 and
batch 128 (median after warm-up). Reports the FLOP reduction, the measured
speedup and the speedup as a fraction of the FLOP reduction. Latency does
not depend on the weights' values, so models are freshly initialised.

  python experiments/bench_structured_latency.py
  python experiments/bench_structured_latency.py --quick   # fewer repeats
"""

import argparse
import datetime
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from coprune_jax.models import CifarNet, ResNet18
from coprune_jax.structured import architectures
from coprune_jax.structured import budget
from coprune_jax.structured import criteria
from coprune_jax.structured import surgery

MODELS = [("cifar_net", CifarNet(num_classes=10)),
          ("resnet18", ResNet18(num_classes=10))]
# (FLOP budget, channel counts a multiple of): XLA's CPU convolutions are
# much faster for multiples of 16 channels than for other widths.
BUDGETS = ((0.5, 1), (0.5, 16), (0.25, 1), (0.25, 16))


def median_seconds(fn, repeats, warmup=2):
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  print(f"# {datetime.date.today()}, {platform.node()}, "
        f"{jax.devices()[0].device_kind}, JAX {jax.__version__}")
  print("| model | FLOP budget | widths multiple of | kernel MACs | params "
        "| batch | dense ms | shrunk ms | speedup | FLOP reduction "
        "| speedup / FLOP reduction |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  one_image = jnp.zeros((1, 32, 32, 3))
  for name, model in MODELS:
    variables = jax.jit(model.init)(jax.random.key(0), one_image)
    arch = architectures.architecture(name)
    groups = arch.groups(variables)
    positions = budget.output_positions(model, variables, one_image)
    cost = budget.CostModel(variables, groups, "flops", positions)
    scores = criteria.l1_scores(variables, groups)
    dense_flops = budget.kernel_macs(model, variables, one_image)
    for flop_budget, multiple_of in BUDGETS:
      try:
        keep = budget.keep_within_budget(scores, cost, flop_budget,
                                         multiple_of)
      except ValueError as e:  # e.g. CIFAR-Net's 16 channels per layer
        print(f"| {name} | {flop_budget:.0%} | {multiple_of} | {e} |")
        continue
      small_variables = surgery.shrink(variables, groups, keep)
      small = model.clone(**arch.widths({n: int(k.sum())
                                         for n, k in keep.items()}))
      small_flops = budget.kernel_macs(small, small_variables, one_image)
      reduction = dense_flops / small_flops
      for batch in (1, 128):
        repeats = (5 if args.quick else 20) if batch == 128 or name == "resnet18" \
            else (20 if args.quick else 200)
        images = jax.random.normal(jax.random.key(1), (batch, 32, 32, 3))
        dense_apply, small_apply = jax.jit(model.apply), jax.jit(small.apply)
        dense = median_seconds(lambda: dense_apply(variables, images), repeats)
        shrunk = median_seconds(lambda: small_apply(small_variables, images),
                                repeats)
        speedup = dense / shrunk
        print(f"| {name} | {flop_budget:.0%} | {multiple_of} | "
              f"{small_flops / 1e6:.2f}M "
              f"of {dense_flops / 1e6:.2f}M | "
              f"{surgery.parameter_count(small_variables):,} of "
              f"{surgery.parameter_count(variables):,} | {batch} | "
              f"{1e3 * dense:.2f} | {1e3 * shrunk:.2f} | {speedup:.2f}x | "
              f"{reduction:.2f}x | {speedup / reduction:.0%} |", flush=True)


if __name__ == "__main__":
  main()
