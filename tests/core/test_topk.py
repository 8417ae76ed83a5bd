import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import topk
from tests.core import per_layer_topk

# A context manager: jax.enable_x64 in the JAX we test; setup.cfg's oldest
# JAX (0.4.35) has it in jax.experimental only.
enable_x64 = getattr(jax, "enable_x64", None)
if enable_x64 is None:
  from jax.experimental import enable_x64  # pylint: disable=g-import-not-at-top


def reference_top(scores: np.ndarray, count: int) -> np.ndarray:
  """Largest `count` scores, ties to the lower flat index, by a stable sort."""
  flat = scores.reshape(-1)
  order = np.lexsort((np.arange(flat.size), -flat))
  mask = np.zeros(flat.size, bool)
  mask[order[:count]] = True
  return mask.reshape(scores.shape)


def test_hand_made_masks():
  scores = jnp.array([[0.5, -2.0, 3.0], [1.0, 0.0, 2.5]])
  np.testing.assert_array_equal(
      topk.topk_mask(scores, 0.5),
      [[False, False, True], [True, False, True]])
  np.testing.assert_array_equal(
      topk.topk_mask(scores, 1 / 6), [[False, False, True], [False] * 3])
  # Negative scores rank below zero.
  np.testing.assert_array_equal(
      topk.topk_mask(scores, 5 / 6), [[True, False, True], [True, True, True]])


def test_keeps_at_least_one_and_at_most_all():
  scores = jnp.arange(10.0)
  assert topk.topk_mask(scores, 1e-6).tolist() == [False] * 9 + [True]
  assert topk.topk_mask(scores, 1.0).all()


def test_ties_go_to_lower_index():
  scores = jnp.array([1.0, 3.0, 3.0, 0.0, 3.0, 3.0])
  np.testing.assert_array_equal(topk.topk_mask(scores, 0.5),
                                [False, True, True, False, True, False])
  np.testing.assert_array_equal(topk.topk_mask(jnp.zeros((2, 3)), 0.5),
                                [[True, True, True], [False, False, False]])


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (5, 5, 3, 8), (2, 1, 33)])
@pytest.mark.parametrize("keep_ratio", [0.001, 0.05, 0.1, 1 / 3, 0.5, 0.9, 1.0])
def test_exact_count_and_same_set_as_sort(shape, keep_ratio):
  rng = np.random.default_rng(hash((shape, keep_ratio)) % 2**32)
  # Coarse values force many ties at the threshold.
  scores = rng.integers(-4, 5, size=shape).astype(np.float32)
  count = keep_ratios_lib.kept_count(scores.size, keep_ratio)
  mask = jax.jit(lambda s: topk.topk_mask(s, keep_ratio))(scores)
  assert int(mask.sum()) == count
  np.testing.assert_array_equal(mask, reference_top(scores, count))


def test_matches_sort_on_continuous_scores():
  scores = np.asarray(jax.random.normal(jax.random.key(0), (257, 31)))
  for keep_ratio in (0.013, 0.2, 0.77):
    count = keep_ratios_lib.kept_count(scores.size, keep_ratio)
    np.testing.assert_array_equal(topk.topk_mask(scores, keep_ratio),
                                  reference_top(scores, count))


def test_deterministic():
  scores = jnp.round(jax.random.normal(jax.random.key(1), (64, 64)), 1)
  first = topk.topk_mask(scores, 0.3)
  for _ in range(3):
    np.testing.assert_array_equal(topk.topk_mask(scores, 0.3), first)


def test_low_precision_and_infinities():
  scores = jnp.array([1.0, jnp.inf, -jnp.inf, 2.0], jnp.bfloat16)
  np.testing.assert_array_equal(topk.topk_mask(scores, 0.5),
                                [False, True, False, True])


def test_group_ranks_across_arrays_with_ties_in_array_order():
  a = jnp.array([5.0, 1.0, 2.0])
  b = jnp.array([[2.0, 9.0], [0.0, 2.0]])
  (mask_a, mask_b), = topk.top_count_masks([[a, b]], [4])
  np.testing.assert_array_equal(mask_a, [True, False, True])
  np.testing.assert_array_equal(mask_b, [[True, True], [False, False]])


def test_several_groups_at_once_are_independent():
  a = jnp.array([3.0, 1.0, 2.0])
  b = jnp.array([0.0, -1.0])
  masks = topk.top_count_masks([[a], [b]], [2, 1])
  np.testing.assert_array_equal(masks[0][0], [True, False, True])
  np.testing.assert_array_equal(masks[1][0], [True, False])


@pytest.mark.parametrize("keep_ratio", [0.0, -0.1, 1.5, float("nan"), True, "0.5"])
def test_bad_keep_ratio(keep_ratio):
  with pytest.raises(ValueError, match="keep ratio"):
    topk.topk_mask(jnp.ones(4), keep_ratio)


def test_bad_count():
  with pytest.raises(ValueError, match="cannot keep 5 of 4"):
    topk.top_count_masks([[jnp.ones(4)]], [5])


def test_float64_scores_are_ranked_at_full_precision():
  with enable_x64(True):
    scores = jnp.array([1.0, 1.0 + 1e-12, 1.0 + 2e-12, 0.5], jnp.float64)
    # In float32 the first three tie and the lowest indices would win.
    np.testing.assert_array_equal(topk.topk_mask(scores, 0.5),
                                  [False, True, True, False])


def random_groups_with_planted_ties(seed):
  """Per-layer and multi-array groups; coarse values tie across rows."""
  rng = np.random.default_rng(seed)
  shapes = [(5, 5, 3, 8), (40,), (7, 9), (1,), (3, 3, 8, 16)]
  arrays = []
  for i, shape in enumerate(shapes):
    values = rng.normal(size=shape).astype(np.float32)
    if i % 2 == 0:  # planted ties: a few distinct values only
      values = np.round(values * 2) / 2
    values.reshape(-1)[::3] = 0.5  # and one value repeated everywhere
    arrays.append(jnp.asarray(values))
  groups = [[a] for a in arrays] + [arrays[:3], arrays[2:]]
  counts = [max(1, int(rng.integers(1, a.size + 1))) for a in arrays]
  counts += [int(rng.integers(1, sum(a.size for a in g) + 1))
             for g in groups[len(arrays):]]
  return groups, counts


def assert_masks_equal(got, expected):
  """Every group's masks (lists of arrays per group) equal, array by array."""
  for got_masks, expected_masks in zip(got, expected):
    for mask, reference in zip(got_masks, expected_masks):
      np.testing.assert_array_equal(mask, reference)


# Short rows split groups over many rows (and ties across rows); digit
# widths that divide 32 (in a loop or unrolled) or leave a shorter last digit.
@pytest.mark.parametrize("seed,digit_bits,row_length,unroll", [
    (0, 1, 8, False), (1, 2, 1024, False), (2, 3, 32, True), (3, 4, 16, True),
    (4, 5, 64, True), (5, 6, 1024, True)])
def test_batched_select_equals_the_per_layer_path(seed, digit_bits,
                                                  row_length, unroll):
  groups, counts = random_groups_with_planted_ties(seed)
  expected = per_layer_topk.top_count_masks(groups, counts)
  got = jax.jit(lambda g: topk._select(  # pylint: disable=protected-access
      g, counts, digit_bits, row_length, unroll=unroll))(groups)
  for group, got_masks, expected_masks, count in zip(groups, got, expected,
                                                     counts):
    assert sum(int(m.sum()) for m in got_masks) == count
    for scores, mask, reference in zip(group, got_masks, expected_masks):
      assert mask.shape == scores.shape
      np.testing.assert_array_equal(mask, reference)


def test_rows_padded_to_whole_blocks_keep_the_masks():
  # The Pallas count takes blocks of rows: the last group's padding rows
  # must neither be kept nor shift a group's ties.
  layout = topk._RowLayout([5, 3000, 70], 1024, row_multiple=8)  # pylint: disable=protected-access
  assert sum(layout.group_rows) == 8 and list(layout.first_row) == [0, 1, 4]
  groups, counts = random_groups_with_planted_ties(8)
  got = jax.jit(lambda g: topk._select(  # pylint: disable=protected-access
      g, counts, 2, 16, row_multiple=8))(groups)
  assert_masks_equal(got, per_layer_topk.top_count_masks(groups, counts))


def test_library_default_equals_the_per_layer_path():
  groups, counts = random_groups_with_planted_ties(7)
  assert_masks_equal(topk.top_count_masks(groups, counts),
                     per_layer_topk.top_count_masks(groups, counts))


@pytest.mark.parametrize("digit_bits,unroll", [(2, False), (5, True)])
def test_float64_batched_select_at_full_precision(digit_bits, unroll):
  with enable_x64(True):
    rng = np.random.default_rng(0)
    base = 1.0 + rng.integers(0, 4, size=300) * 1e-12  # ties only in float32
    groups = [[jnp.asarray(base)], [jnp.asarray(base[:77]),
                                    jnp.asarray(-base)]]
    counts = [101, 40]
    got = topk._select(groups, counts, digit_bits, 32, unroll=unroll)  # pylint: disable=protected-access
    assert_masks_equal(got, per_layer_topk.top_count_masks(groups, counts))
    np.testing.assert_array_equal(got[0][0], reference_top(base, 101))
