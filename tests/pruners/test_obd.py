import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.pruners import _obd as obd


def quadratic():
  a = jnp.array([[3.0, 1.0, 0.5], [1.0, 2.0, -0.3], [0.5, -0.3, 4.0]])
  b = jnp.array([0.1, -0.2, 0.3])
  loss = lambda p: 0.5 * p["w"] @ a @ p["w"] + b @ p["w"]
  return loss, a


def test_saliency_on_a_quadratic_is_half_h_w_squared():
  loss, a = quadratic()
  params = {"w": jnp.array([1.0, -2.0, 0.5])}
  diag = obd.exact_hessian_diagonal(loss, params)
  np.testing.assert_allclose(diag["w"], jnp.diag(a), rtol=1e-6)
  saliency = obd.obd_saliency(params, diag)
  np.testing.assert_allclose(saliency["w"],
                             0.5 * jnp.diag(a) * params["w"] ** 2, rtol=1e-6)
  # Keeping the most salient weight: 0.5*3*1, 0.5*2*4, 0.5*4*0.25 -> index 1.
  ratios = cj.keep_ratio_tree({"w": params["w"][None]}, 1 / 3)
  mask = cj.score_masks({"w": saliency["w"][None]}, ratios)["w"]
  np.testing.assert_array_equal(mask, [[False, True, False]])


def small_model_loss():
  keys = jax.random.split(jax.random.key(0), 4)
  x = jax.random.normal(keys[0], (32, 5))
  y = jax.random.randint(keys[1], (32,), 0, 3)
  params = {"w1": 0.5 * jax.random.normal(keys[2], (5, 6)),
            "w2": 0.5 * jax.random.normal(keys[3], (6, 3))}
  def loss(p):
    logits = jnp.tanh(x @ p["w1"]) @ p["w2"]
    return cj.cross_entropy_loss(logits, y)
  return loss, params


@pytest.mark.slow  # ~9 s; with the slow tests to keep the default budget
def test_exact_diagonal_matches_full_hessian_on_a_small_model():
  loss, params = small_model_loss()
  diag = obd.exact_hessian_diagonal(loss, params, chunk=7)
  flat, unravel = jax.flatten_util.ravel_pytree(params)
  full = jax.hessian(lambda f: loss(unravel(f)))(flat)
  np.testing.assert_allclose(jax.flatten_util.ravel_pytree(diag)[0],
                             jnp.diag(full), rtol=1e-4, atol=1e-6)


def test_hutchinson_estimate_converges_to_the_exact_diagonal():
  loss, params = small_model_loss()
  exact = jax.flatten_util.ravel_pytree(obd.exact_hessian_diagonal(loss, params))[0]
  errors = []
  for probes in (16, 1024):
    estimate = obd.hessian_diagonal(loss, params, jax.random.key(1), probes)
    flat = jax.flatten_util.ravel_pytree(estimate)[0]
    errors.append(float(jnp.linalg.norm(flat - exact) / jnp.linalg.norm(exact)))
  assert errors[1] < 0.15 and errors[1] < errors[0] / 3, errors


def test_gauss_newton_diagonal_is_the_hessian_diagonal_of_softmax_regression():
  keys = jax.random.split(jax.random.key(3), 3)
  x = jax.random.normal(keys[0], (24, 5))
  y = jax.random.randint(keys[1], (24,), 0, 3)
  params = {"w": jax.random.normal(keys[2], (5, 3)), "b": jnp.zeros(3)}
  logits = lambda p, inputs: inputs @ p["w"] + p["b"]
  loss = lambda p: cj.cross_entropy_loss(logits(p, x), y)
  gauss_newton = obd.gauss_newton_diagonal(logits, params, x, chunk=5)
  exact = obd.exact_hessian_diagonal(loss, params)
  for name in params:  # logits linear in params: the two coincide
    np.testing.assert_allclose(gauss_newton[name], exact[name], rtol=1e-4,
                               atol=1e-6)


def test_gauss_newton_diagonal_is_never_negative_on_a_nonlinear_model():
  loss, params = small_model_loss()
  keys = jax.random.split(jax.random.key(0), 4)
  x = jax.random.normal(keys[0], (32, 5))  # the inputs of small_model_loss
  logits = lambda p, inputs: jnp.tanh(inputs @ p["w1"]) @ p["w2"]
  diag = obd.gauss_newton_diagonal(logits, params, x)
  assert all(bool((d >= 0).all()) for d in jax.tree.leaves(diag))
  exact = obd.exact_hessian_diagonal(loss, params)
  # w2 enters the logits linearly: there the diagonals agree exactly.
  np.testing.assert_allclose(diag["w2"], exact["w2"], rtol=1e-4, atol=1e-6)
