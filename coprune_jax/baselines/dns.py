"""Dynamic network surgery (Guo et al. 2016): hysteresis mask updates.

DNS keeps dense weights W and a mask T. After an update, a weight is cut
(T = 0) when |w| < a and spliced back (T = 1) when |w| > b; between the two
thresholds its mask state is kept. Mask updates happen only with probability
sigma(iter) = (1 + gamma * iter)^-power, so they become rare late in training.
Training uses the straight-through gradient (`apply_masks`).

Thresholds come from the layer: t is its k-th largest magnitude for the
layer's keep ratio, a = (1 - hysteresis) t and b = (1 + hysteresis) t, so the
kept fraction stays near the keep ratio (exactly on it when no weight lies
between the thresholds); report the true kept ratio.
"""

from typing import Any

import jax
import jax.numpy as jnp

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import topk
from coprune_jax.core import tree_paths

PyTree = Any


def update_probability(iteration, gamma: float = 1e-4, power: float = 1.0):
  """sigma(iter) = (1 + gamma * iter)^-power."""
  return (1.0 + gamma * iteration) ** (-power)


def layer_thresholds(weight: jax.Array, keep_ratio: float,
                     hysteresis: float = 0.1) -> tuple[jax.Array, jax.Array]:
  """(a, b) around the k-th largest magnitude of the layer."""
  magnitude = jnp.abs(weight)
  count = keep_ratios_lib.kept_count(weight.size, keep_ratio)
  (kept,), = topk.top_count_masks([[magnitude]], [count])
  kth_largest = jnp.min(jnp.where(kept, magnitude, jnp.inf))
  return (1 - hysteresis) * kth_largest, (1 + hysteresis) * kth_largest


def surgery(weight: jax.Array, mask: jax.Array, low, high) -> jax.Array:
  """Cut below `low`, splice above `high`, keep the mask state in between."""
  magnitude = jnp.abs(weight)
  return jnp.where(magnitude < low, False,
                   jnp.where(magnitude > high, True, mask))


def dns_masks(params: PyTree, masks: PyTree, keep_ratios: PyTree, key,
              iteration, hysteresis: float = 0.1, gamma: float = 1e-4,
              power: float = 1.0) -> PyTree:
  """One DNS mask update of every pruned parameter (jittable).

  With probability sigma(iteration) the masks undergo surgery; otherwise
  they are returned unchanged.
  """
  def updated(_, keep_ratio, weight, mask):
    if keep_ratio is None:
      return None
    low, high = layer_thresholds(weight, keep_ratio, hysteresis)
    return surgery(weight, mask, low, high)

  new_masks = tree_paths.map_with_names(updated, keep_ratios, params, masks)
  apply = jax.random.uniform(key) < update_probability(iteration, gamma, power)
  return jax.tree.map(lambda new, old: jnp.where(apply, new, old), new_masks,
                      masks)
