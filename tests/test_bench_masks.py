"""The counting forms of experiments/bench_masks.py give exact masks."""

import jax
import numpy as np
import pytest

from coprune_jax.core import topk
from experiments import bench_masks
from tests.core import per_layer_topk
from tests.core.test_topk import assert_masks_equal
from tests.core.test_topk import random_groups_with_planted_ties


def test_packed_fits_counts_field_bits():
  assert bench_masks.packed_fits(2, 512)  # 3 fields of 10 bits
  assert not bench_masks.packed_fits(2, 1024)  # 3 fields of 11 bits
  assert not bench_masks.packed_fits(3, 16)  # 7 fields of 5 bits


# 2-bit digits (3 candidates), 1-bit digits (one candidate a pass) and rows
# that split groups and their ties. Slow: the benchmark itself checks every
# form against the per-layer path before timing it.
@pytest.mark.slow  # ~15 s on 2 CPU cores
@pytest.mark.parametrize("seed,digit_bits,row_length", [
    (0, 2, 512), (1, 2, 8), (2, 1, 64)])
def test_packed_histogram_masks_equal_the_per_layer_path(seed, digit_bits,
                                                         row_length):
  groups, counts = random_groups_with_planted_ties(seed)
  expected = per_layer_topk.top_count_masks(groups, counts)
  got = jax.jit(lambda g: topk._select(  # pylint: disable=protected-access
      g, counts, digit_bits, row_length,
      bench_masks.count_by_packed_histogram))(groups)
  assert_masks_equal(got, expected)


def test_packed_histogram_refuses_fields_that_overflow():
  keys = np.zeros((2, 1024), np.uint32)
  candidates = np.array([[1, 2, 3]] * 2, np.uint32)
  with pytest.raises(ValueError, match="do not fit 32 bits"):
    bench_masks.count_by_packed_histogram(keys, candidates)


def test_xla_count_forms_stop_at_4_bit_digits():
  assert bench_masks.form_fits("variadic", 4, 1024)
  assert not bench_masks.form_fits("variadic", 8, 1024)
  assert bench_masks.form_fits("pallas", 8, 1024)
  assert not bench_masks.form_fits("packed", 2, 1024)
