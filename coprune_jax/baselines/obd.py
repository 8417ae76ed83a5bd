"""Optimal brain damage (LeCun et al. 1990): saliency 0.5 * h_qq * w_q^2.

h_qq is the diagonal of the Hessian of the training loss. Two ways to get it:
- `hessian_diagonal`: Hutchinson's estimator E[z * (H z)] with Rademacher
  probes z, each probe one Hessian-vector product (forward-over-reverse
  autodiff); unbiased, its error shrinks as 1/sqrt(num_probes). This is what
  the OBD baseline uses.
- `exact_hessian_diagonal`: one Hessian-vector product per parameter; exact,
  for small models and for testing the estimator.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

PyTree = Any


def hessian_vector_product(loss_fn: Callable[[PyTree], jax.Array], params,
                           vector):
  return jax.jvp(jax.grad(loss_fn), (params,), (vector,))[1]


def hessian_diagonal(loss_fn: Callable[[PyTree], jax.Array], params: PyTree,
                     key: jax.Array, num_probes: int = 64) -> PyTree:
  """Hutchinson estimate of diag(H) of `loss_fn` at `params`."""
  flat, unravel = ravel_pytree(params)

  def one_probe(probe_key):
    z = jax.random.rademacher(probe_key, flat.shape, flat.dtype)
    hz, _ = ravel_pytree(hessian_vector_product(loss_fn, params, unravel(z)))
    return z * hz

  def accumulate(total, probe_key):
    return total + one_probe(probe_key), None

  total, _ = jax.lax.scan(accumulate, jnp.zeros_like(flat),
                          jax.random.split(key, num_probes))
  return unravel(total / num_probes)


def exact_hessian_diagonal(loss_fn: Callable[[PyTree], jax.Array],
                           params: PyTree, chunk: int = 256) -> PyTree:
  """diag(H) from one Hessian-vector product per parameter (small models)."""
  flat, unravel = ravel_pytree(params)
  n = flat.size

  @jax.jit
  def diagonal_of_rows(indices):
    basis = jax.nn.one_hot(indices, n, dtype=flat.dtype)
    rows = jax.vmap(lambda e: ravel_pytree(
        hessian_vector_product(loss_fn, params, unravel(e)))[0])(basis)
    return rows[jnp.arange(len(indices)), indices]

  pieces = [diagonal_of_rows(jnp.arange(start, min(start + chunk, n)))
            for start in range(0, n, chunk)]
  return unravel(jnp.concatenate(pieces))


def obd_saliency(params: PyTree, hessian_diag: PyTree) -> PyTree:
  """0.5 * h_qq * w_q^2 per weight: the loss increase of deleting it."""
  return jax.tree.map(lambda w, h: 0.5 * h * w**2, params, hessian_diag)
