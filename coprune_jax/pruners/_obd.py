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

from typing import Any, Callable, Iterable, Optional

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from coprune_jax.core import masks as masks_lib
from coprune_jax.core.pruner import Pruner
from coprune_jax.pruners._fixed import given_masks

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


def obd_masks(params: PyTree, keep_ratios: PyTree, batches: Iterable,
              hessian: str = "gauss_newton",
              logits_fn: Optional[Callable[[PyTree, jax.Array], jax.Array]] = None,
              loss_fn: Optional[Callable[[PyTree, Any], jax.Array]] = None,
              key: Optional[jax.Array] = None, num_probes: int = 32) -> PyTree:
  """Keeps the weights of largest saliency 0.5 h w^2.

  h, averaged over `batches` of (inputs, labels): with hessian="gauss_newton"
  the Gauss-Newton diagonal of cross-entropy through `logits_fn(params,
  inputs)`; with "hutchinson" the estimate of the Hessian of
  `loss_fn(params, batch)` from `num_probes` probes per batch (needs `key`).
  """
  if hessian not in ("gauss_newton", "hutchinson"):
    raise ValueError(f"hessian must be 'gauss_newton' or 'hutchinson', got "
                     f"{hessian!r}")
  total, count = None, 0
  for batch in batches:
    if hessian == "gauss_newton":
      diag = gauss_newton_diagonal(logits_fn, params, batch[0])
    else:
      key, batch_key = jax.random.split(key)
      diag = hessian_diagonal(lambda p: loss_fn(p, batch), params,
                                  batch_key, num_probes)
    total = diag if total is None else jax.tree.map(jnp.add, total, diag)
    count += 1
  if count == 0:
    raise ValueError("obd_masks needs at least one batch")
  hessian_diag = jax.tree.map(lambda h: h / count, total)
  return masks_lib.score_masks(obd_saliency(params, hessian_diag),
                               keep_ratios)


HESSIANS = ("gauss_newton", "hutchinson")


def obd(keep_ratios, *, hessian: str = "gauss_newton", probes: int = 32,
        gradient: str = "masked") -> Pruner:
  """Optimal brain damage as a one-shot pruner: the first masks keep the
  weights of largest saliency 0.5 h w^2 over the calibration batches
  (`obd_masks`; `hessian`: "gauss_newton" or "hutchinson" with `probes`
  probes per batch), then stay fixed while the kept weights retrain.
  """
  if hessian not in HESSIANS:
    raise ValueError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
  if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
    raise ValueError(f"probes must be an integer >= 1, got {probes!r}")

  def start_fn(params, keep_ratio_tree, calibration):
    return params, obd_masks(params, keep_ratio_tree, calibration.batches(),
                             hessian, calibration.logits_fn,
                             calibration.loss_fn, calibration.key, probes)

  return Pruner(keep_ratios, given_masks, update_every=0, gradient=gradient,
                start_fn=start_fn)
