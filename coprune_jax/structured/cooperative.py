"""Cooperative structured pruning: Co-Prune with channel scores.

The source keeps its own best channels; the target keeps the channels with
the best fused score alpha * S_source + (1 - alpha) * S_target, where S is
a channel criterion computed from the params ("l1", "fpgm" or "slimming").
`channel_pruners` turns the mask function into the two domains' pruners,
so the same cooperative step, alpha stages and plateau schedule run it.
"""

from typing import Any, Callable

import jax.numpy as jnp

from coprune_jax.core.pruner import Pruner
from coprune_jax.core import topk
from coprune_jax.structured import budget
from coprune_jax.structured import criteria
from coprune_jax.structured.groups import ChannelGroup
from coprune_jax.structured.surgery import channel_param_masks

PyTree = Any


def cooperative_channel_masks(groups: list[ChannelGroup], fraction,
                              criterion: str = "l1") -> Callable:
  """`mask_fn(source_params, target_params, alpha) -> (source_masks,
  target_masks)` keeping max(1, round(size * fraction)) channels per group.

  fraction: one number or {group name: fraction}. Returns channel masks
  expanded to the params (see `channel_param_masks`); use
  `channel_keep(...)` on the same scores to get the kept channels for
  surgery.
  """
  if criterion not in criteria.CRITERIA:
    raise ValueError(f"criterion must be one of {sorted(criteria.CRITERIA)} "
                     f"(Taylor and APoZ need gradients or activations), got "
                     f"{criterion!r}")
  score = criteria.CRITERIA[criterion]
  fractions = budget.group_fractions([g.name for g in groups], fraction)

  def mask_fn(source_params, target_params, alpha):
    source_keep, target_keep = channel_keep(
        score({"params": source_params}, groups),
        score({"params": target_params}, groups), alpha, fractions)
    return (channel_param_masks(source_params, groups, source_keep),
            channel_param_masks(target_params, groups, target_keep))

  return mask_fn


def channel_keep(source_scores: dict, target_scores: dict, alpha,
                 fractions: dict) -> tuple[dict, dict]:
  """({group: source's kept channels}, {group: target's}), both boolean."""
  source_keep, target_keep = {}, {}
  for name, source in source_scores.items():
    fused = alpha * source + (1.0 - alpha) * target_scores[name]
    source_keep[name] = topk.topk_mask(source, fractions[name])
    target_keep[name] = topk.topk_mask(jnp.asarray(fused), fractions[name])
  return source_keep, target_keep


def channel_pruners(mask_fn: Callable, gradient: str = "straight_through",
                    update_every: int = 1
                    ) -> tuple[Pruner, Pruner]:
  """(source pruner, target pruner) of a joint `mask_fn(source_params,
  target_params, alpha) -> (source_masks, target_masks)`, e.g.
  `cooperative_channel_masks(...)`, for `cj.cooperative_pruning`. The
  source's masks depend on the source alone (alpha 0 with itself as the
  target); the target's on both and the stage's alpha.

  The masks' layout is the mask function's (channel masks also cover
  biases): start the run from `mask_fn`'s masks (`init(..., masks=...)`).
  """
  def source_masks(params, keep_ratios, partner_params, count, **extra_args):
    del keep_ratios, partner_params, count, extra_args
    return mask_fn(params, params, jnp.zeros((), jnp.float32))[0]

  def target_masks(params, keep_ratios, partner_params, count, *, alpha,
                   **extra_args):
    del keep_ratios, count, extra_args
    return mask_fn(partner_params, params, alpha)[1]

  # The keep ratios are placeholders: the mask function fixes the counts.
  every_leaf = lambda name, leaf: True
  return (Pruner(1.0, source_masks, update_every, gradient,
                         prunable=every_leaf),
          Pruner(1.0, target_masks, update_every, gradient,
                         needs_partner=True, prunable=every_leaf))
