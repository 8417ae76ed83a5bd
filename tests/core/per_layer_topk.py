"""The previous exact top-k (32 compare-and-count passes per layer), kept as
an independent oracle for `coprune_jax.core.topk` and as a benchmark baseline."""

import jax.numpy as jnp
from jax import lax

from coprune_jax.core import topk


def _kth_largest_keys(key_groups, counts):
  """Per group, the largest key t such that at least `count` keys are >= t."""
  uint_type = key_groups[0][0].dtype
  num_bits = jnp.iinfo(uint_type).bits
  one = jnp.array(1, uint_type)

  def add_bit_if_enough_above(i, thresholds):
    bit = one << (num_bits - 1 - i).astype(uint_type)
    new_thresholds = []
    for keys, count, threshold in zip(key_groups, counts, thresholds):
      candidate = threshold | bit
      num_above = sum(jnp.sum(k >= candidate, dtype=jnp.int32) for k in keys)
      new_thresholds.append(
          jnp.where(num_above >= count, candidate, threshold))
    return tuple(new_thresholds)

  start = tuple(jnp.zeros((), uint_type) for _ in key_groups)
  return lax.fori_loop(0, num_bits, add_bit_if_enough_above, start)


def _keep_ties_in_index_order(keys, threshold, num_tied_to_keep):
  above = keys > threshold
  tied = keys == threshold
  num_tied = jnp.sum(tied, dtype=jnp.int32)
  return lax.cond(
      num_tied_to_keep >= num_tied, lambda: above | tied,
      lambda: above | (tied & (jnp.cumsum(tied, dtype=jnp.int32)
                               <= num_tied_to_keep)))


def top_count_masks(score_groups, counts):
  """Same contract as `topk.top_count_masks`, one layer at a time."""
  wide = any(s.dtype == jnp.float64 for group in score_groups for s in group)
  key_groups = [[topk._order_keys(jnp.asarray(s), wide) for s in group]  # pylint: disable=protected-access
                for group in score_groups]
  thresholds = _kth_largest_keys(key_groups, counts)
  masks = []
  for group, keys, count, threshold in zip(score_groups, key_groups, counts,
                                           thresholds):
    tied_to_keep = count - sum(jnp.sum(k > threshold, dtype=jnp.int32)
                               for k in keys)
    group_masks = []
    for scores, k in zip(group, keys):
      mask = _keep_ties_in_index_order(k, threshold, tied_to_keep)
      tied_to_keep = tied_to_keep - jnp.sum(mask & (k == threshold),
                                            dtype=jnp.int32)
      group_masks.append(mask.reshape(jnp.shape(scores)))
    masks.append(group_masks)
  return masks
