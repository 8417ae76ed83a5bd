"""Channel masks on the full model, and surgery that removes the channels.

`channel_param_masks` zeroes the producers of every dropped channel (its
filter, bias, BatchNorm scale and shift): the masked model's dropped
channels are exactly zero after the layer, so every reader gets nothing
from them. `shrink` cuts those channels out of producers and readers: the
smaller model computes the same outputs (up to float summation order).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from coprune_jax.core import tree_paths
from coprune_jax.structured.groups import ChannelGroup

PyTree = Any


def _check_keep(groups: list[ChannelGroup], keep: dict) -> None:
  names = {g.name for g in groups}
  if set(keep) != names:
    raise ValueError(f"channel masks for groups {sorted(keep)} do not match "
                     f"the model's groups {sorted(names)}")
  for group in groups:
    mask = keep[group.name]
    if tuple(jnp.shape(mask)) != (group.size,) or jnp.result_type(mask) != bool:
      raise ValueError(f"group '{group.name}' needs a boolean mask of shape "
                       f"({group.size},), got {jnp.result_type(mask)} "
                       f"{jnp.shape(mask)}")
    if not isinstance(mask, jax.core.Tracer) and not np.any(mask):
      raise ValueError(f"group '{group.name}' would keep no channel")


def _expand(mask, shape: tuple, axis: int):
  view = [1] * len(shape)
  view[axis] = shape[axis]
  return jnp.broadcast_to(jnp.reshape(mask, view), shape)


def channel_param_masks(params: PyTree, groups: list[ChannelGroup],
                        keep: dict) -> PyTree:
  """A mask tree for `params` (the "params" collection): False on the
  producer slices of dropped channels, None for params no group produces.

  keep: {group name: bool array (group size,)}, True = channel kept; numpy
  or jax arrays (the function is jittable, e.g. inside a mask function of
  `cooperative.channel_pruners`).
  """
  _check_keep(groups, keep)
  masks = {}
  for group in groups:
    for piece in group.producers:
      if not piece.path.startswith("params/"):
        continue  # BatchNorm statistics: zero scale and shift suffice
      name = piece.path[len("params/"):]
      masks.setdefault(name, []).append((keep[group.name], piece))

  def mask_of(name, weight):
    if name not in masks:
      return None
    result = jnp.ones(jnp.shape(weight), bool)
    for channel_mask, piece in masks[name]:
      result &= _expand(channel_mask, jnp.shape(weight), piece.axis)
    return result

  return tree_paths.map_with_names(mask_of, params)


def kept_channels(masks: PyTree, groups: list[ChannelGroup]) -> dict:
  """{group: bool array} of the channels `masks` (from
  `channel_param_masks`, e.g. a trained cooperative state's) keep: those
  whose filter has any weight left in the group's first producer kernel."""
  named = dict(tree_paths.named_leaves(masks))
  keep = {}
  for group in groups:
    path = group.kernels[0]
    mask = named.get(path[len("params/"):])
    if mask is None:
      raise ValueError(f"the masks have no '{path}' for group '{group.name}'")
    filters = np.asarray(mask, bool).reshape(-1, group.size)  # output last
    keep[group.name] = filters.any(axis=0)
  return keep


def shrink(variables: PyTree, groups: list[ChannelGroup], keep: dict) -> PyTree:
  """`variables` ({"params": ..., "batch_stats": ...}) without the dropped
  channels: every producer and consumer slice cut to the kept channels."""
  _check_keep(groups, keep)
  cuts = {}
  for group in groups:
    kept = np.flatnonzero(keep[group.name])
    for piece in group.producers + group.consumers:
      cuts.setdefault(piece.path, []).append(
          (piece.axis, piece.indices(kept, group.size)))
  named = dict(tree_paths.named_leaves(variables))
  unknown = sorted(set(cuts) - set(named))
  if unknown:
    raise ValueError(f"the groups name '{unknown[0]}', which the variables "
                     "lack")

  def cut(name, value):
    for axis, indices in cuts.get(name, []):
      value = np.take(np.asarray(value), indices, axis=axis)
    return value

  return jax.tree.map(jnp.asarray, tree_paths.map_with_names(cut, variables))


def parameter_count(variables: PyTree) -> int:
  return sum(np.size(x) for x in jax.tree.leaves(variables.get("params",
                                                               variables)))
