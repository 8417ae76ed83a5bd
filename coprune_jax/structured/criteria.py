"""Channel importance scores (larger = more important), one array per group.

- "l1": L1 norm of the channel's filters (Li et al. 2017), summed over the
  group's producer kernels.
- "fpgm": distance of each filter to the others, sum_j ||F_c - F_j||_2
  (He et al. 2019): filters near the geometric median are replaceable.
- "slimming": |gamma| of the BatchNorm scales (Liu et al. 2017), trained
  with `slimming_penalty` added to the loss.
- "taylor": |sum over the gate params of theta * dL/dtheta| per channel, the
  first-order change of the loss when the channel's output is switched off
  (Molchanov et al. 2019; Gate Decorator, You et al. 2019, where the gate
  follows BatchNorm); accumulate |.| over batches with `taylor_scores`.
- "apoz": 1 - average percentage of zeros of the channel's ReLU activations
  (Hu et al. 2016, network trimming), from `apoz_scores`.
"""

from typing import Any

import jax
import jax.numpy as jnp

from coprune_jax.core import tree_paths
from coprune_jax.structured.groups import ChannelGroup

PyTree = Any


def _leaf(variables: PyTree, path: str) -> jax.Array:
  node = variables
  for key in path.split("/"):
    node = node[key]
  return jnp.asarray(node)


def _filters(kernel: jax.Array) -> jax.Array:
  """(out channels, everything else)."""
  return jnp.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)


def l1_scores(variables: PyTree, groups: list[ChannelGroup]) -> dict:
  return {g.name: sum(jnp.abs(_filters(_leaf(variables, k))).sum(axis=1)
                      for k in g.kernels) for g in groups}


def fpgm_scores(variables: PyTree, groups: list[ChannelGroup]) -> dict:
  def distances(kernel):
    filters = _filters(kernel)
    squared = jnp.sum(filters**2, axis=1)
    gram = filters @ filters.T
    pairwise = squared[:, None] + squared[None, :] - 2.0 * gram
    return jnp.sqrt(jnp.maximum(pairwise, 0.0)).sum(axis=1)
  return {g.name: sum(distances(_leaf(variables, k)) for k in g.kernels)
          for g in groups}


def slimming_scores(variables: PyTree, groups: list[ChannelGroup]) -> dict:
  missing = [g.name for g in groups if not g.norm_scales]
  if missing:
    raise ValueError(f"network slimming needs BatchNorm scales; group "
                     f"'{missing[0]}' has none")
  return {g.name: sum(jnp.abs(_leaf(variables, s)) for s in g.norm_scales)
          for g in groups}


def slimming_penalty(params: PyTree, groups: list[ChannelGroup]) -> jax.Array:
  """sum |gamma| over the groups' BatchNorm scales (`params` collection);
  add `lambda * penalty` (Liu et al.: lambda 1e-5 to 1e-4) to the loss."""
  variables = {"params": params}
  return sum(jnp.abs(_leaf(variables, s)).sum()
             for g in groups for s in g.norm_scales)


def taylor_scores(params: PyTree, grads: PyTree,
                  groups: list[ChannelGroup]) -> dict:
  """One batch's |dL/d gate| per channel; sum it over batches.

  A gate g_c multiplying the channel's output scales exactly the gate
  params (kernel and bias, or the BatchNorm scale and shift), so
  dL/dg_c at g = 1 is the sum of theta * dL/dtheta over the channel's slices.
  """
  variables, gradients = {"params": params}, {"params": grads}
  scores = {}
  for g in groups:
    total = 0.0
    for path in g.gates:
      product = _leaf(variables, path) * _leaf(gradients, path)
      total = total + (product.sum(axis=tuple(range(product.ndim - 1)))
                       if product.ndim > 1 else product)
    scores[g.name] = jnp.abs(total)
  return scores


def apoz_scores(activations: dict, groups: list[ChannelGroup]) -> dict:
  """1 - fraction of non-positive entries per channel.

  activations: {module path: array (..., channels)}, the output of each
  group's `activation` module before its ReLU (or after, where the module
  ends with one), e.g. from `capture_activations`.
  """
  return {g.name: 1.0 - jnp.mean(
      activations[g.activation].reshape(-1, g.size) <= 0, axis=0)
          for g in groups}


def module_outputs(intermediates: PyTree) -> dict:
  """{module path: its output} from Flax's `capture_intermediates` state."""
  suffix = "/__call__/0"
  return {name[:-len(suffix)]: value
          for name, value in tree_paths.named_leaves(intermediates)
          if name.endswith(suffix)}


def capture_activations(module, variables: PyTree, inputs: jax.Array,
                        groups: list[ChannelGroup]) -> dict:
  """The outputs of the groups' activation modules on `inputs` (eval mode)."""
  wanted = {g.activation for g in groups}
  # Only those modules: capturing every output of a ResNet-18 on a batch of
  # 1,000 images would hold gigabytes.
  _, state = module.apply(
      variables, inputs, mutable=["intermediates"],
      capture_intermediates=lambda mdl, method: (
          method == "__call__" and "/".join(mdl.path) in wanted))
  found = module_outputs(state["intermediates"])
  missing = [g.activation for g in groups if g.activation not in found]
  if missing:
    raise ValueError(f"module '{missing[0]}' produced no output")
  return {g.activation: found[g.activation] for g in groups}


CRITERIA = {"l1": l1_scores, "fpgm": fpgm_scores, "slimming": slimming_scores}
