"""Masked forward pass with a straight-through backward pass."""

from typing import Any

import jax

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths

PyTree = Any


@jax.custom_vjp
def _straight_through_product(weight, mask):
  return weight * mask.astype(weight.dtype)


def _product_forward(weight, mask):
  return _straight_through_product(weight, mask), None


def _full_gradient_to_weight(_, grad):
  # dL/dW := dL/d(W*M): pruned weights keep learning and can come back.
  return grad, None


_straight_through_product.defvjp(_product_forward, _full_gradient_to_weight)


def apply_masks(params: PyTree, masks: PyTree,
                straight_through: bool = True) -> PyTree:
  """Returns params with every masked weight W replaced by W * M.

  With `straight_through`, the backward pass gives W the full gradient
  dL/d(W*M) (dynamic pruning: pruned weights can grow back). Without it,
  pruned weights get zero gradient (retraining with a fixed mask).
  Parameters whose mask is None pass through unchanged.
  """
  masks_lib.check_masks(params, masks)

  def masked(_, mask, weight):
    if mask is None:
      return weight
    if straight_through:
      return _straight_through_product(weight, mask)
    return weight * mask.astype(weight.dtype)

  return tree_paths.map_with_names(masked, masks, params)
