"""Exact top-k masks for every layer at once, without sorting.

All groups' scores go into one flat buffer of rows, each row holding the
scores of one group (a layer, or all layers for a global ranking), padded
with the smallest key. The k-th largest score of every group is then found
together, by a radix select on the scores' bits from the most significant
down: each pass fixes `digit_bits` more bits of every group's threshold by
counting, per row, the keys at or above each of the 2**digit_bits - 1
candidate digits, and summing the rows of each group. Entries above the
threshold are kept; entries equal to it are kept in index order until exactly
k are kept (a prefix sum over the tied counts of the rows, and one row per
group ranked within itself).

The digit width is chosen per backend (measured with
`experiments/bench_masks.py`):
- CPU: 2 bits per pass (16 passes of 3 compares), as a loop. The CPU is
  bound by reading the buffer: 1-bit digits (32 passes) took 2.6x as long
  on the ResNet-18 tree, while 4-bit digits (8 passes of 15 compares)
  gained nothing, the compares costing what the saved passes saved. The
  loop runs as fast as unrolled passes on large trees and compiles faster.
- TPU and other accelerators: 4 bits per pass (8 passes of 15 compares):
  on an H100 the compares in XLA's form are nearly free and every pass is
  a kernel launch and a read of the buffer (2-bit digits were 1.25x slower
  on ResNet-18, 1.5x on CIFAR-Net). Wider digits (63- and 255-way
  reductions) are unmeasured: a GPU run that included them returned
  nothing within 9 minutes.
- CUDA GPUs: the passes count with a Pallas (Triton) kernel
  (`pallas_count.py`) at 2 bits per pass. On an H100 it took
  ResNet-18's masks from 2.90 ms (XLA's form, 4-bit digits) to 2.10 ms and
  CIFAR-Net's from 0.52 to 0.42 ms, and ResNet-18's cooperative step from
  1.50x to 1.31x two dense steps; its 4- and 8-bit digits were slower (4.3
  and 16.9 ms): in the kernel the compares, not the reads, cost.
  `GPU_COUNT_FORM = "xla"` and `GPU_DIGIT_BITS = 4`, set before the
  selection is first traced, bring back XLA's form, which is also what a
  JAX whose Pallas lacks the kernel's API gets (with a warning).

Cost for n scores in G groups: 32 / digit_bits passes of
(2**digit_bits - 1) compare-and-count over the buffer, one pass for the tie
rule, and a copy in and out of the buffer; no sort, no branch.
"""

import math
from typing import Sequence
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from coprune_jax.core import keep_ratios as keep_ratios_lib

# Digit bits per backend (see the module docstring) and the buffer's row
# length: long enough for efficient row reductions, short enough that padding
# each layer to whole rows costs little.
CPU_DIGIT_BITS = 2
ACCELERATOR_DIGIT_BITS = 4
ROW_LENGTH = 1024
# How a CUDA GPU counts each pass: "pallas" (`pallas_count`) or "xla"
# (`count_at_or_above`), and at how many bits per pass.
GPU_COUNT_FORM = "pallas"
GPU_DIGIT_BITS = 2


def _order_keys(scores: jax.Array, wide: bool) -> jax.Array:
  """Flattened unsigned keys with the same total order as the float scores.

  Flipping the sign bit of non-negative floats and all bits of negative ones
  makes unsigned comparison agree with float comparison (-0.0 sorts just
  below +0.0, NaN above +inf). Key 0 (a negative NaN) is the smallest.
  """
  float_type, uint_type = ((jnp.float64, jnp.uint64) if wide
                           else (jnp.float32, jnp.uint32))
  bits = lax.bitcast_convert_type(scores.reshape(-1).astype(float_type),
                                  uint_type)
  sign_bit = jnp.array(1, uint_type) << (jnp.iinfo(uint_type).bits - 1)
  return jnp.where(bits >= sign_bit, ~bits, bits | sign_bit)


class _RowLayout:
  """Where each group's keys lie in the (rows, row_length) buffer (static)."""

  def __init__(self, group_sizes: Sequence[int], row_length: int,
               row_multiple: int = 1):
    self.row_length = row_length
    self.group_rows = [math.ceil(size / row_length) for size in group_sizes]
    # Whole blocks of rows for a count that takes them (the last group's
    # padding, like the padding within its last row, sorts last).
    self.group_rows[-1] += -sum(self.group_rows) % row_multiple
    self.first_row = np.cumsum([0] + self.group_rows[:-1]).astype(np.int32)
    self.row_group = np.repeat(np.arange(len(group_sizes), dtype=np.int32),
                               self.group_rows)
    self.num_groups = len(group_sizes)

  def sum_rows(self, per_row: jax.Array) -> jax.Array:
    """Sums a (rows, ...) array over the rows of each group."""
    return jax.ops.segment_sum(per_row, self.row_group, self.num_groups,
                               indices_are_sorted=True)


def _flat_buffer(key_groups, layout: _RowLayout) -> jax.Array:
  parts = []
  for keys, rows in zip(key_groups, layout.group_rows):
    size = sum(k.size for k in keys)
    parts.extend(keys)
    parts.append(jnp.zeros(rows * layout.row_length - size, keys[0].dtype))
  return jnp.concatenate(parts).reshape(-1, layout.row_length)


def _sum_rows_together(flags: Sequence[jax.Array]) -> jax.Array:
  """(rows, len(flags)) per-row counts of boolean (rows, R) arrays.

  One variadic reduction, so that all are counted in the same pass over the
  keys they are computed from (one kernel on a GPU).
  """
  operands = tuple(f.astype(jnp.int32) for f in flags)
  zeros = tuple(jnp.zeros((), jnp.int32) for _ in operands)
  sums = lax.reduce(operands, zeros,
                    lambda xs, ys: tuple(x + y for x, y in zip(xs, ys)), (1,))
  return jnp.stack(sums, axis=1)


def count_at_or_above(keys: jax.Array, candidates: jax.Array) -> jax.Array:
  """(rows, C) counts of each row's keys >= each of its C candidates."""
  return _sum_rows_together([keys >= candidates[:, j:j + 1]
                             for j in range(candidates.shape[1])])


def _kth_largest_keys(keys: jax.Array, layout: _RowLayout, counts: jax.Array,
                      digit_bits: int, count_rows=count_at_or_above,
                      unroll: bool = True) -> jax.Array:
  """Per group, the largest key t such that at least `count` keys are >= t.

  `unroll=False` runs equal-width passes in a loop (a smaller program,
  faster to compile); every pass is then one loop iteration.
  """
  uint_type = keys.dtype
  key_bits = jnp.iinfo(uint_type).bits

  def add_digit(thresholds, bits, low_bit):
    digits = jnp.arange(1, 2**bits, dtype=uint_type) << low_bit
    candidates = thresholds[:, None] | digits  # (groups, 2**bits - 1)
    per_row = count_rows(keys, candidates[layout.row_group])
    enough = layout.sum_rows(per_row) >= counts[:, None]
    # Counts fall as the candidate digit rises: the number of candidates
    # with enough keys above them is the largest such digit.
    digit = jnp.sum(enough, axis=1, dtype=uint_type)
    return thresholds | (digit << low_bit)

  thresholds = jnp.zeros(layout.num_groups, uint_type)
  if not unroll and key_bits % digit_bits == 0:
    return lax.fori_loop(
        0, key_bits // digit_bits,
        lambda i, t: add_digit(t, digit_bits, (key_bits - digit_bits * (i + 1)
                                               ).astype(uint_type)),
        thresholds)
  low_bit = key_bits
  while low_bit > 0:
    bits = min(digit_bits, low_bit)
    low_bit -= bits
    thresholds = add_digit(thresholds, bits, low_bit)
  return thresholds


def _keep_ties_in_index_order(keys, layout: _RowLayout, thresholds, counts):
  """Keys above their group's threshold, then tied keys in index order."""
  row_thresholds = thresholds[layout.row_group][:, None]
  above_per_row, tied_per_row = _sum_rows_together(
      [keys > row_thresholds, keys == row_thresholds]).T
  tied_to_keep = counts - layout.sum_rows(above_per_row)
  tied_before_row = jnp.cumsum(tied_per_row) - tied_per_row
  tied_before_row -= tied_before_row[layout.first_row][layout.row_group]
  keep_in_row = jnp.clip(tied_to_keep[layout.row_group] - tied_before_row, 0,
                         tied_per_row)
  all_tied_kept = (keep_in_row == tied_per_row)[:, None]
  # The compares are redone, not stored: each fuses into its own pass.
  mask = (keys > row_thresholds) | ((keys == row_thresholds) & all_tied_kept)
  # At most one row per group keeps only some of its ties: rank those rows'
  # ties by a prefix sum (any row of a group without such a row ranks right).
  rows = jnp.arange(keys.shape[0], dtype=jnp.int32)
  split = (keep_in_row > 0) & (keep_in_row < tied_per_row)
  split_row = layout.sum_rows(jnp.where(split, rows + 1, 0)) - 1
  split_row = jnp.where(split_row < 0, layout.first_row, split_row)
  row_keys, group_thresholds = keys[split_row], thresholds[:, None]
  row_tied = row_keys == group_thresholds
  row_mask = (row_keys > group_thresholds) | (
      row_tied & (jnp.cumsum(row_tied, axis=1, dtype=jnp.int32)
                  <= keep_in_row[split_row][:, None]))
  return mask.at[split_row].set(row_mask, unique_indices=True)


def _select(score_groups, counts, digit_bits: int, row_length: int,
            count_rows=count_at_or_above, unroll: bool = True,
            row_multiple: int = 1):
  """`top_count_masks` at one digit width and row length; `count_rows` is
  how each pass counts (`experiments/bench_masks.py` compares forms), on a
  buffer of a multiple of `row_multiple` rows."""
  wide = any(s.dtype == jnp.float64 for group in score_groups for s in group)
  key_groups = [[_order_keys(s, wide) for s in group] for group in score_groups]
  layout = _RowLayout([sum(s.size for s in group) for group in score_groups],
                      row_length, row_multiple)
  keys = _flat_buffer(key_groups, layout)
  counts = jnp.asarray(counts, jnp.int32)
  thresholds = _kth_largest_keys(keys, layout, counts, digit_bits,
                                  count_rows, unroll)
  flat_mask = _keep_ties_in_index_order(keys, layout, thresholds,
                                        counts).reshape(-1)
  masks = []
  for group, first_row in zip(score_groups, layout.first_row):
    start = int(first_row) * row_length
    group_masks = []
    for scores in group:
      group_masks.append(flat_mask[start:start + scores.size].reshape(
          scores.shape))
      start += scores.size
    masks.append(group_masks)
  return masks


def _gpu_select(score_groups, counts):
  if GPU_COUNT_FORM not in ("xla", "pallas"):
    raise ValueError(f"GPU_COUNT_FORM must be 'xla' or 'pallas', got "
                     f"{GPU_COUNT_FORM!r}")
  if GPU_COUNT_FORM == "pallas":
    try:
      from coprune_jax.core import pallas_count  # pylint: disable=g-import-not-at-top
      missing = pallas_count.missing_api()
    except ImportError as e:
      missing = str(e)
    if not missing:
      rows = pallas_count.ROWS_PER_PROGRAM
      # Compiled: this branch is lowered for CUDA only.
      count_rows = lambda keys, candidates: pallas_count.count_at_or_above(
          keys, candidates, interpret=False, rows_per_program=rows)
      return _select(score_groups, counts, GPU_DIGIT_BITS, ROW_LENGTH,
                     count_rows, row_multiple=rows)
    # A JAX whose Pallas lacks what the kernel uses. Every backend traces
    # this branch, so the CPU's masks must not fail with it.
    if jax.default_backend() == "gpu":
      warnings.warn(f"topk: the Pallas count is unavailable ({missing}); "
                    f"counting with XLA's reduction instead")
    return _select(score_groups, counts, ACCELERATOR_DIGIT_BITS, ROW_LENGTH)
  return _select(score_groups, counts, GPU_DIGIT_BITS, ROW_LENGTH)


@jax.jit
def _select_per_backend(score_groups, counts):
  # Counts are traced: one compilation serves every keep ratio of a shape.
  return lax.platform_dependent(
      score_groups, counts,
      cpu=lambda g, c: _select(g, c, CPU_DIGIT_BITS, ROW_LENGTH,
                               unroll=False),
      cuda=_gpu_select,
      default=lambda g, c: _select(g, c, ACCELERATOR_DIGIT_BITS, ROW_LENGTH))


def top_count_masks(score_groups: Sequence[Sequence[jax.Array]],
                    counts: Sequence[int]) -> list[list[jax.Array]]:
  """Boolean masks keeping exactly `counts[g]` largest scores of each group.

  Each group is a list of arrays ranked together (one array for a per-layer
  mask, all layers for a global one). Ties are broken by position: earlier
  arrays of the group first, then lower flat index. All groups are selected
  together (one pass over all of them per digit); jit-compiled and cached per
  shapes, so eager calls are cheap after the first. Counts may be traced
  (e.g. a sparsity schedule inside jit); traced counts are clipped to
  [1, size], concrete ones outside it are an error.
  """
  if any(not group for group in score_groups):
    raise ValueError("every score group needs at least one array")
  score_groups = [[jnp.asarray(s) for s in group] for group in score_groups]
  sizes = [sum(s.size for s in group) for group in score_groups]
  if any(isinstance(c, jax.core.Tracer) for c in counts):
    return _select_per_backend(score_groups, jnp.stack([
        jnp.clip(jnp.asarray(c, jnp.int32), 1, size)
        for c, size in zip(counts, sizes)]))
  counts = [int(c) for c in counts]
  for size, count in zip(sizes, counts):
    if not 1 <= count <= size:
      raise ValueError(f"cannot keep {count} of {size} scores")
  return _select_per_backend(score_groups, np.asarray(counts, np.int32))


def topk_mask(scores: jax.Array, keep_ratio: float) -> jax.Array:
  """Keeps the `max(1, round(n * keep_ratio))` largest of n scores.

  Jittable (`keep_ratio` is static). Ties at the k-th largest score are broken
  deterministically in favour of the lower flat index. No sort: a radix
  select over the scores' bits (see the module docstring).

  >>> topk_mask(jnp.array([3., 1., 4., 1., 5.]), 0.4).tolist()
  [False, False, True, False, True]
  >>> topk_mask(jnp.array([2., 2., 2., 2.]), 0.5).tolist()
  [True, True, False, False]

  Args:
    scores: floating array of any shape; larger means more important.
    keep_ratio: fraction of entries to keep, in (0, 1].

  Returns:
    A boolean array of the shape of `scores` with exactly k True entries.
  """
  keep_ratio = keep_ratios_lib.validate_keep_ratio(keep_ratio, "topk_mask")
  count = keep_ratios_lib.kept_count(scores.size, keep_ratio)
  return top_count_masks([[jnp.asarray(scores)]], [count])[0][0]
