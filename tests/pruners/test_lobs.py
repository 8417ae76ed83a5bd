import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.pruners import _lobs as lobs


def correlated_inputs(key, n, d):
  """Inputs with strongly correlated features: where compensation matters."""
  key_a, key_b = jax.random.split(key)
  mixing = jax.random.normal(key_a, (d, d)) / np.sqrt(d) + jnp.eye(d)
  return jax.random.normal(key_b, (n, d)) @ mixing


def conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def test_patches_reproduce_the_convolution():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  patches = lobs.conv_patches(x, kernel.shape)
  np.testing.assert_allclose(patches @ kernel.reshape(-1, 4),
                             conv(x, kernel).reshape(-1, 4), rtol=1e-4,
                             atol=1e-4)


def reconstruction_error(x, kernel, new_kernel):
  return float(np.linalg.norm(np.asarray(x @ kernel - x @ new_kernel,
                                         np.float64)))


# What L-OBS guarantees, for any data: its compensation is the best for the
# weights it keeps, and the one weight it removes first is the one whose
# removal costs least. It does NOT always beat magnitude pruning: its
# saliency assumes every other weight stays, and on other draws of these
# inputs (JAX 0.4.35's random bits) its kept set lost to magnitude's,
# uncompensated, at 10%, 30% and 60% kept; an earlier test here asserted
# the opposite and passed by the draw.
@pytest.mark.parametrize("keep_ratio", [0.1, 0.3, 0.6])
def test_dense_compensation_is_optimal_for_the_kept_weights(keep_ratio):
  x = correlated_inputs(jax.random.key(2), 512, 24)
  kernel = jax.random.normal(jax.random.key(3), (24, 8))
  hessian = lobs.input_hessian(x)
  new_kernel, mask = lobs.lobs_prune(kernel, hessian, keep_ratio,
                                     damping=0.0)
  assert int(mask.sum()) == cj.kept_count(kernel.size, keep_ratio)
  assert (new_kernel[~mask] == 0).all()
  # The normal equations: no change of a kept weight lowers the error.
  gradient = np.asarray(hessian, np.float64) @ np.asarray(
      new_kernel - kernel, np.float64)
  scale = np.abs(np.asarray(hessian) @ np.asarray(kernel)).max()
  assert np.abs(gradient[mask]).max() < 1e-4 * scale
  assert reconstruction_error(x, kernel, new_kernel) < reconstruction_error(
      x, kernel, kernel * mask)


def test_the_first_weight_removed_is_the_cheapest_to_remove():
  # Features of unequal scale: the cheapest weight is not the smallest.
  x = correlated_inputs(jax.random.key(8), 256, 6) * jnp.array(
      [0.2, 0.5, 1.0, 2.0, 4.0, 8.0])
  kernel = jax.random.normal(jax.random.key(12), (6, 3))
  hessian = lobs.input_hessian(x)
  new_kernel, mask = lobs.lobs_prune(kernel, hessian, 17 / 18, damping=0.0)
  assert int((~mask).sum()) == 1
  # Every single weight removed in turn, the rest compensated exactly.
  costs = []
  for q in range(kernel.size):
    one = np.ones(kernel.shape, bool)
    one.flat[q] = False
    costs.append(reconstruction_error(
        x, kernel, optimal_kernel(kernel, hessian, one)))
  # (Magnitude pruning would remove another weight: the test can tell.)
  assert np.argmin(np.abs(np.asarray(kernel)).reshape(-1)) != np.argmin(costs)
  assert int(np.flatnonzero(~mask.reshape(-1))[0]) == int(np.argmin(costs))
  assert reconstruction_error(x, kernel, new_kernel) == pytest.approx(
      min(costs), rel=1e-4)


def optimal_kernel(kernel, hessian, mask):
  """The least-squares kept weights of each unit, by a direct solve."""
  w, h = np.asarray(kernel, np.float64), np.asarray(hessian, np.float64)
  new = np.zeros_like(w)
  for unit in range(w.shape[1]):
    kept = np.flatnonzero(mask[:, unit])
    new[kept, unit] = np.linalg.solve(h[np.ix_(kept, kept)],
                                      (h @ w)[kept, unit])
  return new.astype(np.float32)


def test_conv_compensation_is_optimal_for_the_kept_weights():
  x = jax.random.normal(jax.random.key(4), (16, 8, 8, 4))
  x = x + jnp.roll(x, 1, axis=1)  # neighbouring pixels correlate
  kernel = jax.random.normal(jax.random.key(5), (3, 3, 4, 6))
  patches = lobs.conv_patches(x, kernel.shape)
  hessian = lobs.input_hessian(patches)
  new_kernel, mask = lobs.lobs_prune(kernel, hessian, 0.2, damping=0.0)
  assert int(mask.sum()) == cj.kept_count(kernel.size, 0.2)
  # The patches times the flat kernel are the convolution's outputs.
  flat = lambda k: k.reshape(-1, kernel.shape[-1])
  np.testing.assert_allclose(
      flat(new_kernel), optimal_kernel(flat(kernel), hessian, flat(mask)),
      rtol=1e-3, atol=1e-4)
  assert reconstruction_error(patches, flat(kernel), flat(new_kernel)) < (
      reconstruction_error(patches, flat(kernel), flat(kernel * mask)))


def test_keeping_everything_changes_nothing():
  x = correlated_inputs(jax.random.key(6), 64, 5)
  kernel = jax.random.normal(jax.random.key(7), (5, 2))
  new_kernel, mask = lobs.lobs_prune(kernel, lobs.input_hessian(x), 1.0,
                                     damping=0.0)
  assert mask.all()
  np.testing.assert_allclose(new_kernel, kernel, rtol=1e-4, atol=1e-5)


def test_hessian_of_wrong_size():
  with pytest.raises(ValueError, match="hessian has shape"):
    lobs.lobs_prune(jnp.ones((4, 2)), jnp.eye(3), 0.5)
