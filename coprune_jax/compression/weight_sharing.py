"""Deep Compression's weight sharing (Han et al. 2016): per-layer k-means.

The kept weights of each masked parameter are clustered into 2^bits
centroids (1-D k-means, centroids initialised linearly between the smallest
and largest kept weight, as the paper recommends); the layer is then stored
as one `bits`-bit cluster index per kept weight plus the centroid table.
`shared_params` rebuilds W = centroids[index] * M, so differentiating a loss
through it gives each centroid the sum of its weights' gradients: the
paper's centroid fine-tuning is plain gradient descent on the centroids.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths

PyTree = Any


class SharedLayer(NamedTuple):
  centroids: jax.Array  # (2^bits,) float
  indices: jax.Array  # int32, the parameter's shape; 0 where pruned


def kmeans_1d(values: jax.Array, weights: jax.Array, num_clusters: int,
              iterations: int = 30) -> tuple[jax.Array, jax.Array]:
  """Weighted 1-D k-means with linear initialisation (jittable).

  Args:
    values: (n,) floats.
    weights: (n,) 0/1 (or any non-negative) weights; weight 0 entries (pruned
      weights) are assigned but do not move the centroids or the init range.
    num_clusters: number of centroids.
    iterations: Lloyd iterations; a centroid that loses all its members stays
      where it is.

  Returns:
    (centroids (num_clusters,), indices (n,) int32 of the nearest centroid).
  """
  present = weights > 0
  low = jnp.min(jnp.where(present, values, jnp.inf))
  high = jnp.max(jnp.where(present, values, -jnp.inf))
  low, high = jnp.where(jnp.any(present), jnp.stack([low, high]), 0.0)
  centroids = jnp.linspace(low, high, num_clusters).astype(values.dtype)

  def nearest(centroids):
    # Sorted centroids: the nearest is found between midpoints, in
    # O(n log k) time and O(n) memory (no n x k distance matrix).
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    return jnp.searchsorted(midpoints, values).astype(jnp.int32)

  def lloyd(_, centroids):
    indices = nearest(centroids)
    total = jax.ops.segment_sum(weights * values, indices, num_clusters)
    count = jax.ops.segment_sum(weights, indices, num_clusters)
    # A 1-D cluster's mean stays between its neighbours'; sorting guards
    # the order against empty clusters that keep their old place.
    return jnp.sort(jnp.where(count > 0, total / jnp.maximum(count, 1e-30),
                              centroids))

  centroids = jax.lax.fori_loop(0, iterations, lloyd, centroids)
  return centroids, nearest(centroids)


def share_weights(params: PyTree, masks: PyTree, bits: int,
                  iterations: int = 30) -> PyTree:
  """A tree with a `SharedLayer` per masked parameter, None elsewhere."""
  if not isinstance(bits, int) or not 1 <= bits <= 16:
    raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
  masks_lib.check_masks(params, masks)

  def share(_, mask, weight):
    if mask is None:
      return None
    centroids, indices = kmeans_1d(
        weight.reshape(-1), mask.reshape(-1).astype(weight.dtype), 2 ** bits,
        iterations)
    indices = jnp.where(mask.reshape(-1), indices, 0).reshape(weight.shape)
    return SharedLayer(centroids, indices)

  return tree_paths.map_with_names(share, masks, params)


def shared_layers(shared: PyTree) -> list:
  """The `SharedLayer` or None of every parameter, in pytree order."""
  return jax.tree.leaves(shared, is_leaf=_is_layer)


def _is_layer(x) -> bool:
  return x is None or isinstance(x, SharedLayer)


def shared_params(params: PyTree, shared: PyTree, masks: PyTree) -> PyTree:
  """`params` with every shared parameter rebuilt as centroids[index] * M."""
  leaves = shared_layers(shared)
  mask_leaves = jax.tree.leaves(masks, is_leaf=lambda x: x is None)
  rebuilt = [None if layer is None
             else layer.centroids[layer.indices] * mask.astype(
                 layer.centroids.dtype)
             for layer, mask in zip(leaves, mask_leaves)]
  param_leaves, treedef = jax.tree.flatten(params)
  if len(param_leaves) != len(rebuilt):
    raise ValueError("`shared` does not fit `params`: "
                     f"{len(rebuilt)} vs {len(param_leaves)} leaves")
  return jax.tree.unflatten(treedef, [w if new is None else new
                                      for w, new in zip(param_leaves, rebuilt)])


def centroid_tree(shared: PyTree) -> PyTree:
  """The trainable part of `shared`: its centroid arrays (None elsewhere)."""
  return jax.tree.map(lambda layer: None if layer is None else layer.centroids,
                      shared, is_leaf=_is_layer)


def with_centroids(shared: PyTree, centroids: PyTree) -> PyTree:
  """`shared` with its centroids replaced (e.g. after an optimizer step)."""
  return jax.tree.map(
      lambda layer, c: None if layer is None else layer._replace(centroids=c),
      shared, centroids, is_leaf=_is_layer)
