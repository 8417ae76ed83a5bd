"""A class-balanced CIFAR-10 subset small enough to travel to a lent GPU.

The GPU machine takes at most 64 MiB of files per call (the checkout
included) and CIFAR-10 is 171 MB, so `bench_pruners.py` runs there on the
first N training and M test images of every class, in the file's order,
written in the same domain .npz format:

  python experiments/cifar10_subset.py --data-root ../shared/data \\
      --out gpu_data/cifar10_subset --train-per-class 1200 --test-per-class 500
  python experiments/bench_pruners.py --data-root gpu_data/cifar10_subset \\
      --num-val 2000 ...

(12,000 training and 5,000 test images: 52 MB.) Results on a subset are
not CIFAR-10 results: say which subset beside every number.
"""

import argparse
import os
import sys

import numpy as np

from coprune_jax.data import domain as domain_lib
from coprune_jax.data import local_files


def first_per_class(labels: np.ndarray, count: int) -> np.ndarray:
  """Indices of the first `count` examples of every class, in file order."""
  chosen = [np.flatnonzero(labels == c)[:count] for c in np.unique(labels)]
  short = [len(c) for c in chosen if len(c) < count]
  if short:
    raise ValueError(f"a class has only {min(short)} examples, {count} asked")
  return np.sort(np.concatenate(chosen))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data-root", default=os.environ.get(
      "COPRUNE_DATA_DIR", "../shared/data"))
  parser.add_argument("--out", required=True,
                      help="writes OUT/cifar10/cifar10_jpeg.npz")
  parser.add_argument("--train-per-class", type=int, default=1200)
  parser.add_argument("--test-per-class", type=int, default=500)
  args = parser.parse_args(argv)
  full = local_files.load_npz(
      os.path.join(args.data_root, "cifar10", "cifar10_jpeg.npz"), "cifar10")
  train = first_per_class(full.y_train, args.train_per_class)
  test = first_per_class(full.y_test, args.test_per_class)
  os.makedirs(os.path.join(args.out, "cifar10"), exist_ok=True)
  path = os.path.join(args.out, "cifar10", "cifar10_jpeg.npz")
  local_files.save_npz(path, domain_lib.Domain(
      "cifar10", full.x_train[train], full.y_train[train], full.x_test[test],
      full.y_test[test], full.label_names))
  print(f"{path}: {len(train)} training and {len(test)} test images, "
        f"{os.path.getsize(path) / 2**20:.1f} MiB")
  return 0


if __name__ == "__main__":
  sys.exit(main())
