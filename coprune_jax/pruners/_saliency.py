"""Saliency (SNIP) pruning: keep the largest |w * g|."""

import jax.numpy as jnp

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner


def saliency(keep_ratios, *, update_every: int = 1,
             gradient: str = "straight_through",
             prunable=tree_paths.is_weight_kernel) -> Pruner:
  """Keeps the weights of largest saliency |w * g| (SNIP's connection
  sensitivity, Lee et al. 2019), with g the gradient the update was given.
  Masks start all ones (init sees no gradient) and are recomputed every
  `update_every` updates. SNIP prunes once, at the first update: take
  `cj.masks_of(state)` after it and go on with fixed masks.
  """
  def masks_fn(params, keep_ratio_tree, partner_params, count, *, grads,
               **extra_args):
    del partner_params, count, extra_args
    scores = tree_paths.map_with_names(
        lambda _, keep_ratio, w, g: None if keep_ratio is None
        else jnp.abs(w * g), keep_ratio_tree, params, grads)
    return masks_lib.score_masks(scores, keep_ratio_tree)

  return Pruner(keep_ratios, masks_fn, update_every, gradient, "ones",
                needs_partner=False, prunable=prunable)
