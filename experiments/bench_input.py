"""Benchmark: input pipeline cost per batch, next to a cooperative step.

Times `coprune_jax.data.batches` (gather from host uint8 arrays, pad 4,
random crop 32, flip, normalise, on the default JAX device) at batch 128 for
CIFAR-sized images, and the STL setting (36 -> random crop 32 + flip). Median
over many batches after warm-up; random pixels (cost does not depend on them).
Compare with the cooperative step of `bench_step.py` (same machine).

  python experiments/bench_input.py
"""

import datetime
import os
import statistics
import time

import jax
import numpy as np

from coprune_jax.data import input_pipeline as pipeline


def time_batches(split, batch_size, num_batches):
  rng = np.random.default_rng(0)
  times = []
  iterator = pipeline.random_batches(split, batch_size, num_batches + 5, rng)
  for i in range(num_batches + 5):
    start = time.perf_counter()
    batch = next(iterator)
    jax.block_until_ready(batch)
    if i >= 5:  # warm-up: compilation
      times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  print(f"date {datetime.date.today()}, jax {jax.__version__}, backend "
        f"{jax.default_backend()}, {os.cpu_count()} CPU cores")
  rng = np.random.default_rng(0)
  mean, std = np.full(3, 120, np.float32), np.full(3, 60, np.float32)
  settings = {
      "CIFAR (32, pad 4, crop 32, flip)": (
          rng.integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8),
          pipeline.Augmentation(pad=4, crop=True, flip=True)),
      "STL (stored 36, crop 32, flip)": (
          rng.integers(0, 256, (4500, 36, 36, 3), dtype=np.uint8),
          pipeline.Augmentation(pad=0, crop=True, flip=True)),
  }
  for name, (images, augmentation) in settings.items():
    split = pipeline.Split(images, np.zeros(len(images), np.int64), mean, std,
                           32, augmentation)
    seconds = time_batches(split, 128, 100)
    print(f"{name:34s} {seconds * 1e3:7.2f} ms per batch of 128 "
          f"({128 / seconds:,.0f} images/s)")


if __name__ == "__main__":
  main()
