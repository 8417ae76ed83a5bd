"""experiments/cifar10_subset.py on a tiny generated CIFAR-shaped file."""

import numpy as np
import pytest

from coprune_jax.data import domain as domain_lib
from coprune_jax.data import local_files
from experiments import cifar10_subset


def test_subset_keeps_the_first_images_of_every_class_in_order(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (60, 4, 4, 3), dtype=np.uint8)
  y = np.arange(60) % 3
  (tmp_path / "cifar10").mkdir()
  local_files.save_npz(str(tmp_path / "cifar10" / "cifar10_jpeg.npz"),
                       domain_lib.Domain("c", x[:45], y[:45], x[45:], y[45:],
                                         ("a", "b", "c")))
  assert cifar10_subset.main(["--data-root", str(tmp_path), "--out",
                              str(tmp_path / "small"), "--train-per-class",
                              "4", "--test-per-class", "2"]) == 0
  small = local_files.load_npz(
      str(tmp_path / "small" / "cifar10" / "cifar10_jpeg.npz"))
  np.testing.assert_array_equal(small.x_train, x[:12])  # 4 of each class
  np.testing.assert_array_equal(small.x_test, x[45:51])
  assert small.label_names == ("a", "b", "c")
  with pytest.raises(ValueError, match="only 15 examples, 16 asked"):
    cifar10_subset.first_per_class(y[:45], 16)
