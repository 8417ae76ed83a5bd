"""Fixed masks: retraining after one-shot pruning."""

from coprune_jax.core.pruner import Pruner


def given_masks(params, keep_ratio_tree, partner_params, count, *, masks,
                **extra_args):
  """The mask function of pruners whose masks never change after the start."""
  del params, keep_ratio_tree, partner_params, count, extra_args
  return masks


def fixed(gradient: str = "masked") -> Pruner:
  """Keeps the masks it is started with (`cj.init_with_masks`): retraining
  after pruning elsewhere (a previous stage, a mask file).

  gradient: "masked" (pruned weights stay as they are) or "straight_through".
  """
  return Pruner(None, given_masks, update_every=0, gradient=gradient)
