"""Magnitude pruning: keep the largest |w| of each pruned parameter."""

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner
from coprune_jax.core.pruner import top_scores


def magnitude(keep_ratios, *, scope: str = "layer", update_every: int = 1,
              gradient: str = "straight_through", initial: str = "ones",
              prunable=tree_paths.is_weight_kernel) -> Pruner:
  """Keeps the largest-magnitude weights, |w|, of each pruned parameter.

  The defaults recompute the masks after every update with straight-through
  gradients (dynamic magnitude pruning); `update_every=0, initial="pruned",
  gradient="masked"` prunes once and retrains the kept weights.

  Args:
    keep_ratios: see `Pruner.keep_ratios`.
    scope: "layer" (exact count per parameter) or "global" (one ranking
      over all pruned parameters), as in `cj.score_masks`.
    update_every, gradient, initial, prunable: see `Pruner`.
  """
  def scores_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    del partner_params, count, extra_args
    return masks_lib.magnitudes(params, keep_ratio_tree)

  return Pruner(keep_ratios, top_scores(scores_fn, scope), update_every,
                gradient, initial, needs_partner=False, prunable=prunable,
                scores_fn=scores_fn, scope=scope)
