"""Median time of CIFAR-Net's cooperative step (1.35%, batch 128 per domain).

For comparing two versions of the code on one machine in the same minutes:
run it alternately with each checkout first on the path, e.g.

  PYTHONPATH=/path/to/old/checkout python experiments/time_coprune_step.py 40 old
  python experiments/time_coprune_step.py 40 new
"""

import statistics
import sys
import time

import jax
import jax.numpy as jnp

import coprune_jax as cj
from coprune_jax.models import CifarNet
from coprune_jax.train import protocol


def main(num_steps: int, label: str) -> None:
  model = CifarNet(num_classes=9)
  params = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  ratios = cj.keep_ratio_tree(params, protocol.CIFAR_NET_KEEP_RATIOS_1_35)
  apply_fn = lambda p, x: model.apply({"params": p}, x)
  keys = jax.random.split(jax.random.key(1), 4)
  batches = [(jax.random.normal(keys[i], (128, 32, 32, 3)),
              jax.random.randint(keys[i + 1], (128,), 0, 9)) for i in (0, 2)]
  coprune = cj.published_coprune(ratios, cj.classification_objective(apply_fn))
  state = coprune.init(params, jax.tree.map(lambda w: 0.9 * w, params), 0.5)
  step = coprune.step
  for _ in range(5):  # compile and warm up
    state, metrics = step(state, *batches)
    jax.block_until_ready(metrics)
  times = []
  for _ in range(num_steps):
    start = time.perf_counter()
    state, metrics = step(state, *batches)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  print(f"{label} {1e3 * statistics.median(times):.1f} ms")


if __name__ == "__main__":
  main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
