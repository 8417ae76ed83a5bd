"""Optimal brain damage (LeCun et al. 1990): saliency 0.5 * h_qq * w_q^2.

h_qq is the diagonal of the Hessian of the training loss. Three ways to get it:
- `gauss_newton_diagonal`: the diagonal of the Gauss-Newton matrix J^T H_z J
  of softmax cross-entropy (H_z the loss Hessian in the logits), computed
  exactly as sum_k p_k (d log p_k / dw)^2 per example. It drops the term of
  second derivatives of the network, as LeCun et al.'s own OBD did, and is
  never negative. The OBD baseline's default.
- `hessian_diagonal`: Hutchinson's estimator E[z * (H z)] with Rademacher
  probes z, each probe one Hessian-vector product (forward-over-reverse
  autodiff); unbiased for the full Hessian's diagonal, but its error shrinks
  only as 1/sqrt(num_probes) and single entries can come out negative.
- `exact_hessian_diagonal`: one Hessian-vector product per parameter; exact,
  for small models and for testing the others.
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


def gauss_newton_diagonal(logits_fn: Callable[[PyTree, jax.Array], jax.Array],
                          params: PyTree, inputs: jax.Array,
                          chunk: int = 16) -> PyTree:
  """diag of the Gauss-Newton matrix of the mean cross-entropy over `inputs`.

  `logits_fn(params, inputs) -> (N, K) logits`. Per example, one Jacobian of
  the K log-probabilities (reverse mode), `chunk` examples at a time. Equal to
  the Hessian's diagonal when the logits are linear in the params.
  """
  def one_example(x):
    def log_probs(p):
      return jax.nn.log_softmax(logits_fn(p, x[None])[0])
    probs = jnp.exp(log_probs(params))
    jacobian = jax.jacrev(log_probs)(params)  # leaves (K, *param.shape)
    return jax.tree.map(lambda j: jnp.tensordot(probs, j**2, axes=1),
                        jacobian)

  per_example = jax.lax.map(one_example, inputs, batch_size=chunk)
  return jax.tree.map(lambda d: jnp.mean(d, axis=0), per_example)


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
