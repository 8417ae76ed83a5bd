"""N:M structured sparsity: n of every m consecutive weights."""

import jax
import jax.numpy as jnp

from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner


def n_of_m_mask(weight: jax.Array, n: int, m: int) -> jax.Array:
  """Keeps the n largest |w| of every m consecutive weights along the input
  dimension (axis -2) of a kernel; ties go to the lower index.

  >>> n_of_m_mask(jnp.array([[1.], [-4.], [3.], [2.]]), 2, 4)[:, 0].tolist()
  [False, True, True, False]
  """
  if weight.ndim < 2 or weight.shape[-2] % m:
    raise ValueError(f"an {n}:{m} pattern needs kernels whose input "
                     f"dimension (axis -2) divides by {m}, got shape "
                     f"{weight.shape}")
  inputs_last = jnp.moveaxis(jnp.abs(weight), -2, -1)
  groups = inputs_last.reshape(inputs_last.shape[:-1] + (-1, m))
  # Rank within each group: by magnitude, then by position (stable sort).
  order = jnp.argsort(-groups, axis=-1, stable=True)
  rank = jnp.argsort(order, axis=-1, stable=True)
  keep = (rank < n).reshape(inputs_last.shape)
  return jnp.moveaxis(keep, -1, -2)


def n_of_m(n: int, m: int, *, parameters: str = ".*", update_every: int = 1,
           gradient: str = "straight_through",
           prunable=tree_paths.is_weight_kernel) -> Pruner:
  """N:M structured sparsity (e.g. 2:4, which sparse tensor cores run):
  in every group of m consecutive weights along a kernel's input dimension,
  the n largest are kept.

  Args:
    n, m: keep n of every m, 0 < n <= m.
    parameters: regex (re.fullmatch) of the prunable parameters to prune.
    update_every, gradient, prunable: see `Pruner`.
  """
  if not 0 < n <= m:
    raise ValueError(f"need 0 < n <= m, got {n}:{m}")

  def masks_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    del partner_params, count, extra_args
    return tree_paths.map_with_names(
        lambda _, keep_ratio, w: None if keep_ratio is None
        else n_of_m_mask(w, n, m), keep_ratio_tree, params)

  return Pruner([(parameters, n / m)], masks_fn, update_every, gradient,
                "ones", needs_partner=False, prunable=prunable)
