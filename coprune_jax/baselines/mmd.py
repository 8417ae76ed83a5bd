"""Maximum mean discrepancy with a multi-kernel RBF (DDC, Tzeng et al. 2014)."""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

# Bandwidth multipliers around the median heuristic, as in multi-kernel MMD.
DEFAULT_BANDWIDTH_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
  sq = (jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T)
  return jnp.maximum(sq, 0.0)


def mmd_squared(x: jax.Array, y: jax.Array,
                bandwidth_scales: Sequence[float] = DEFAULT_BANDWIDTH_SCALES,
                base_bandwidth: Optional[jax.Array] = None) -> jax.Array:
  """Biased estimate of MMD^2 between samples x (n, d) and y (m, d).

  The kernel is the mean of RBF kernels exp(-|u - v|^2 / (s * base)) over the
  scales s; `base` defaults to the median squared distance of the pooled
  samples (no gradient flows through it). The estimate is exactly 0 when x
  and y hold the same points and grows as the distributions move apart.
  """
  x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
  pooled = jnp.concatenate([x, y])
  d_all = _squared_distances(pooled, pooled)
  if base_bandwidth is None:
    base_bandwidth = jax.lax.stop_gradient(
        jnp.maximum(jnp.median(d_all), 1e-6))

  def kernel(sq):
    return sum(jnp.exp(-sq / (s * base_bandwidth)) for s in bandwidth_scales
               ) / len(bandwidth_scales)

  n = x.shape[0]
  k = kernel(d_all)
  return (k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())
