"""Benchmark: both domains' exact masks, by digit width and row length.

Times the cooperative mask recomputation (source masks from |W_s|, target
masks from the signed fusion, per layer) on the CIFAR-Net tree at the
reference's 1.35% ratios and the ResNet-18 tree at 4% of every kernel, for
every (digit bits, row length, counting form) of the batched radix select in
`coprune_jax.core.topk`, and for two baselines: the previous per-layer selection
(32 compare-and-count passes per layer, `tests/core/per_layer_topk.py`) and
`lax.top_k` per layer. This is the measurement behind the per-backend digit
width in `coprune_jax/core/topk.py`. Every variant's masks are checked equal to
the per-layer path's before timing (so on every backend it runs on).

  python experiments/bench_masks.py                  # default backend
  python experiments/bench_masks.py --json out.json  # also write the figures
  python experiments/bench_masks.py --stages --digit-bits 4 --row-lengths 1024
      # and where the time of one selection goes, stage by stage
"""

import argparse
import datetime
import functools
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import coprune_jax as cj
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import pallas_count
from coprune_jax.core import topk
from coprune_jax.models import CifarNet, ResNet18
from coprune_jax.train import protocol

# The repository root (for tests.core) and this folder (for bench_step),
# also when imported as experiments.bench_masks.
sys.path[:0] = [os.path.join(os.path.dirname(__file__), ".."),
                os.path.dirname(__file__)]
from tests.core import per_layer_topk  # pylint: disable=g-import-not-at-top
from bench_step import lax_top_k_mask, median_seconds  # pylint: disable=g-import-not-at-top


def score_groups(source, target, ratios, alpha=0.5):
  """Per-layer groups and counts of both domains, as `cooperative_masks`."""
  groups, counts = [], []
  for scores in masks_lib.cooperative_scores(source, target, alpha, ratios):
    tree_groups, tree_counts, _ = masks_lib._ranking(scores, ratios, "layer")  # pylint: disable=protected-access
    groups += tree_groups
    counts += tree_counts
  return groups, counts


def count_by_broadcast_minor(keys, candidates):
  """(rows, R, C) compares summed over R: a column reduction for XLA."""
  return jnp.sum(keys[:, :, None] >= candidates[:, None, :], axis=1,
                 dtype=jnp.int32)


def count_by_broadcast_major(keys, candidates):
  """(rows, C, R) compares summed over R: a row reduction per candidate."""
  return jnp.sum(keys[:, None, :] >= candidates[:, :, None], axis=2,
                 dtype=jnp.int32)


def packed_fits(digit_bits: int, row_length: int) -> bool:
  """Whether `count_by_packed_histogram` can count this digit and row: a
  field of bit_length(row_length) bits per digit value, 32 bits in all."""
  return (2**digit_bits - 1) * row_length.bit_length() <= 32


def count_by_packed_histogram(keys, candidates):
  """(rows, C) counts from one single-output sum per row.

  The candidates of a pass are t + j * 2**low for j = 1..C, with t the
  group's threshold so far (zero below its fixed bits). A key's digit value
  v = min((key - t) >> low, C), 0 below t, says how many candidates it is
  at or above: a subtraction and a shift instead of C compares. The row's
  histogram of v is one uint32 sum of 1 << (F * (v - 1)) in fields of F =
  bit_length(row length) bits, and the counts are its suffix sums. So
  (2**digit_bits - 1) * F <= 32: 2-bit digits in rows of at most 1023.
  For a GPU, where the variadic 15-output reduction of 4-bit digits runs
  at a sixth of memory bandwidth (RESULTS.md, issue 15).
  """
  row_length = keys.shape[1]
  num_candidates = candidates.shape[1]
  if num_candidates == 1:  # a 1-bit digit: one compare
    return jnp.sum(keys >= candidates, axis=1, keepdims=True, dtype=jnp.int32)
  field = row_length.bit_length()
  if num_candidates * field > 32:
    raise ValueError(f"{num_candidates} candidates in rows of {row_length} "
                     f"do not fit 32 bits")
  step = candidates[:, 1] - candidates[:, 0]  # 2**low, per row
  low = lax.population_count(step - 1)
  threshold = (candidates[:, 0] - step)[:, None]
  value = jnp.where(keys >= threshold,
                    jnp.minimum((keys - threshold) >> low[:, None],
                                num_candidates), 0).astype(jnp.uint32)
  one_hot = jnp.where(value > 0, jnp.uint32(1) << (field * (value - 1)),
                      jnp.uint32(0))
  packed = jnp.sum(one_hot, axis=1, dtype=jnp.uint32)
  shifts = jnp.arange(num_candidates, dtype=jnp.uint32) * field
  histogram = (packed[:, None] >> shifts) & jnp.uint32(2**field - 1)
  return jnp.cumsum(histogram[:, ::-1], axis=1)[:, ::-1].astype(jnp.int32)


def form_fits(form: str, digit_bits: int, row_length: int) -> bool:
  """Whether to time `form` at this digit width and row length: XLA's
  reductions only up to 4-bit digits (a GPU run with 6- and 8-bit ones,
  63- and 255-output reductions, returned nothing in 9 minutes)."""
  if form == "packed":
    return packed_fits(digit_bits, row_length)
  return form == "pallas" or digit_bits <= 4


COUNT_FORMS = {"variadic": topk.count_at_or_above,
               "pallas": pallas_count.count_at_or_above,
               "broadcast-minor": count_by_broadcast_minor,
               "broadcast-major": count_by_broadcast_major,
               "packed": count_by_packed_histogram}


def lax_top_k_masks(groups, counts):
  return [[lax_top_k_mask(scores, count)]
          for (scores,), count in zip(groups, counts)]


def bench_tree(name, params, rules, variants, num_steps):
  ratios = cj.keep_ratio_tree(params, rules)
  # A target that differs from the source, so that the two rankings differ.
  noise = jax.tree.map(
      lambda w: 0.1 * jax.random.normal(jax.random.key(w.size), w.shape,
                                        w.dtype), params)
  target = jax.tree.map(lambda w, e: 0.9 * w + e, params, noise)
  named_ratios = cj.tree_paths.named_leaves(ratios, keep_none=True)
  pruned = [w for (_, r), w in zip(named_ratios, jax.tree.leaves(params))
            if r is not None]
  print(f"\n{name}: {sum(w.size for w in pruned):,} pruned weights per domain "
        f"in {len(pruned)} layers")

  def select_from_params(select):
    return jax.jit(lambda s, t: select(*score_groups(s, t, ratios)))

  expected = jax.device_get(select_from_params(
      lambda g, c: per_layer_topk.top_count_masks(g, c))(params, target))
  results = {}
  for label, select, check in variants:
    fn = select_from_params(select)
    try:
      got = jax.device_get(fn(params, target))
    except Exception as e:  # pylint: disable=broad-except
      # E.g. a kernel that does not lower on this backend: the other
      # variants' figures still count.
      print(f"  {label:54s} FAILED: {type(e).__name__}: {e}", flush=True)
      results[label] = None
      continue
    if check and not all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(got), jax.tree.leaves(expected))):
      raise AssertionError(f"{label}: masks differ from the per-layer path")
    steps = num_steps if "lax.top_k" not in label else max(3, num_steps // 10)
    results[label] = median_seconds(
        lambda: jax.block_until_ready(fn(params, target)), steps, 2)
    print(f"  {label:54s} {results[label] * 1e3:9.3f} ms", flush=True)
  return results


def stage_times(params, rules, digit_bits, row_length, num_steps,
                count_rows=topk.count_at_or_above):
  """Milliseconds of each stage of one batched selection (both domains),
  each pass counting with `count_rows`."""
  ratios = cj.keep_ratio_tree(params, rules)
  target = jax.tree.map(lambda w: 0.9 * w, params)
  groups, counts = score_groups(params, target, ratios)
  layout = topk._RowLayout([g[0].size for g in groups], row_length)  # pylint: disable=protected-access
  count_array = jnp.asarray(counts, jnp.int32)

  def flat_keys(s, t):
    groups, _ = score_groups(s, t, ratios)
    return topk._flat_buffer([[topk._order_keys(g[0], False)] for g in groups],  # pylint: disable=protected-access
                             layout)

  keys = jax.jit(flat_keys)(params, target)
  candidates = jnp.broadcast_to(
      jnp.arange(1, 2**digit_bits, dtype=jnp.uint32) << 20,
      (keys.shape[0], 2**digit_bits - 1))
  per_row = count_rows(keys, candidates)
  thresholds = jax.jit(lambda k: topk._kth_largest_keys(  # pylint: disable=protected-access
      k, layout, count_array, digit_bits, count_rows))(keys)
  flat_mask = jax.jit(lambda k, t: topk._keep_ties_in_index_order(  # pylint: disable=protected-access
      k, layout, t, count_array))(keys, thresholds)
  stages = {
      "flat key buffer from both domains' params": (flat_keys, params, target),
      "one counting pass": (count_rows, keys, candidates),
      "per-group sums of one pass (segment_sum)": (layout.sum_rows, per_row),
      "prefix sum over rows (jnp.cumsum)": (
          lambda x: jnp.cumsum(x[:, 0]), per_row),
      "all passes (_kth_largest_keys)": (
          lambda k: topk._kth_largest_keys(k, layout, count_array,  # pylint: disable=protected-access
                                           digit_bits, count_rows), keys),
      "tie rule (_keep_ties_in_index_order)": (
          lambda k, t: topk._keep_ties_in_index_order(k, layout, t,  # pylint: disable=protected-access
                                                      count_array),
          keys, thresholds),
      "slices of the flat mask into layers": (
          lambda m: [m.reshape(-1)[int(r) * row_length:][:g[0].size]
                     for r, g in zip(layout.first_row, groups)], flat_mask),
  }
  print(f"\nstages, {digit_bits}-bit digits, rows of {row_length}, "
        f"{keys.shape[0]:,} rows:")
  times = {}
  for label, (fn, *args) in stages.items():
    fn = jax.jit(fn)
    times[label] = median_seconds(
        lambda: jax.block_until_ready(fn(*args)), num_steps, 2) * 1e3
    print(f"  {label:54s} {times[label]:9.3f} ms", flush=True)
  return times


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--digit-bits", type=int, nargs="+", default=[1, 2, 3, 4])
  parser.add_argument("--row-lengths", type=int, nargs="+",
                      default=[1024, 4096])
  parser.add_argument("--count-forms", nargs="+", default=["variadic"],
                      choices=sorted(COUNT_FORMS))
  parser.add_argument("--rows-per-program", type=int, nargs="+", default=[1],
                      help="blocks of rows each Pallas program counts "
                      "(powers of two)")
  parser.add_argument("--skip-resnet", action="store_true")
  parser.add_argument("--stages", action="store_true",
                      help="also time each stage of the selection on the "
                      "ResNet-18 tree, at the first count form, digit width "
                      "and row length")
  parser.add_argument("--json", help="write the figures (ms) to this file")
  args = parser.parse_args()

  device = jax.devices()[0]
  header = {"date": str(datetime.date.today()), "jax_version": jax.__version__,
            "backend": jax.default_backend(), "device": device.device_kind,
            "commit": os.environ.get("COMMIT", "unknown")}
  print(header)
  variants = [("library default (top_count_masks)", topk.top_count_masks,
               True)]
  for form in args.count_forms:
    for bits in args.digit_bits:
      for row in args.row_lengths:
        if not form_fits(form, bits, row):
          continue
        for block in args.rows_per_program if form == "pallas" else [1]:
          label = f"{bits}-bit digits, rows of {row}, {form}"
          count = COUNT_FORMS[form]
          if block > 1:
            label += f", {block} rows a program"
            count = functools.partial(count, rows_per_program=block)
          variants.append((
              label,
              lambda g, c, bits=bits, row=row, count=count, block=block:
              topk._select(g, c, bits, row, count, row_multiple=block),  # pylint: disable=protected-access
              True))
  variants += [("previous per-layer passes", per_layer_topk.top_count_masks,
                False),
               ("lax.top_k per layer (no tie split)", lax_top_k_masks, False)]

  keys = jax.random.split(jax.random.key(0), 2)
  report = dict(header)

  def save():  # after every part: a run cut short keeps what it measured
    if args.json:
      with open(args.json, "w") as f:
        json.dump(report, f, indent=1)

  cifar_params = CifarNet(num_classes=9).init(
      keys[0], jnp.zeros((1, 32, 32, 3)))["params"]
  to_ms = lambda seconds: None if seconds is None else seconds * 1e3
  report["cifar_net_ms"] = {k: to_ms(v) for k, v in bench_tree(
      "CIFAR-Net, 1.35% kept", cifar_params,
      protocol.CIFAR_NET_KEEP_RATIOS_1_35, variants, args.steps).items()}
  save()
  if not args.skip_resnet:
    resnet_params = ResNet18(num_classes=10, stem="cifar").init(
        keys[1], jnp.zeros((1, 32, 32, 3)))["params"]
    report["resnet18_ms"] = {k: to_ms(v) for k, v in bench_tree(
        "ResNet-18 (CIFAR stem), 4% kept", resnet_params, [(".*", 0.04)],
        variants, args.steps).items()}
    save()
    if args.stages:
      report["resnet18_stages_ms"] = stage_times(
          resnet_params, [(".*", 0.04)], args.digit_bits[0],
          args.row_lengths[0], args.steps, COUNT_FORMS[args.count_forms[0]])
      save()


if __name__ == "__main__":
  main()
