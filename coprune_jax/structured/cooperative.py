"""Cooperative structured pruning: Co-Prune with channel scores.

The source keeps its own best channels; the target keeps the channels with
the best fused score alpha * S_source + (1 - alpha) * S_target, where S is
a channel criterion computed from the params ("l1", "fpgm" or "slimming").
The mask function plugs into `make_cooperative_step(mask_fn=...)`, so the
same jitted step, alpha stages and plateau schedule run it.
"""

from typing import Any, Callable

import jax.numpy as jnp

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
