"""Random pruning: the baseline every pruning method must beat."""

import zlib

import jax

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner


def random(keep_ratios, *, seed: int = 0, update_every: int = 0,
           gradient: str = "masked", prunable=tree_paths.is_weight_kernel
           ) -> Pruner:
  """Keeps a uniformly random subset of each pruned parameter (the exact
  count), drawn once at init by default: the baseline every pruning method
  must beat. With `update_every=N` a new subset is drawn every N updates.
  """
  def masks_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    del partner_params, extra_args
    return random_scores_masks(params, keep_ratio_tree, seed, count)

  return Pruner(keep_ratios, masks_fn, update_every, gradient, "pruned",
                needs_partner=False, prunable=prunable)


def key_of(key, name: str):
  """A key per parameter name: draws do not depend on the tree's order."""
  return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def random_scores_masks(params, keep_ratio_tree, seed, count):
  """Masks of uniformly random scores, drawn from `seed` and `count`."""
  key = jax.random.fold_in(jax.random.key(seed), count)
  scores = tree_paths.map_with_names(
      lambda name, keep_ratio, w: None if keep_ratio is None
      else jax.random.uniform(key_of(key, name), w.shape),
      keep_ratio_tree, params)
  return masks_lib.score_masks(scores, keep_ratio_tree)
