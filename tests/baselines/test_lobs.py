import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.baselines import lobs


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


@pytest.mark.parametrize("keep_ratio", [0.1, 0.3, 0.6])
def test_dense_compensation_beats_magnitude_pruning(keep_ratio):
  x = correlated_inputs(jax.random.key(2), 512, 24)
  kernel = jax.random.normal(jax.random.key(3), (24, 8))
  new_kernel, mask = lobs.lobs_prune(kernel, lobs.input_hessian(x), keep_ratio)
  assert int(mask.sum()) == cj.kept_count(kernel.size, keep_ratio)
  assert (new_kernel[~mask] == 0).all()
  magnitude_mask = cj.topk_mask(jnp.abs(kernel), keep_ratio)
  error_lobs = jnp.linalg.norm(x @ kernel - x @ new_kernel)
  error_magnitude = jnp.linalg.norm(x @ kernel - x @ (kernel * magnitude_mask))
  assert error_lobs < error_magnitude, (error_lobs, error_magnitude)


def test_conv_compensation_beats_magnitude_pruning():
  x = jax.random.normal(jax.random.key(4), (16, 8, 8, 4))
  x = x + jnp.roll(x, 1, axis=1)  # neighbouring pixels correlate
  kernel = jax.random.normal(jax.random.key(5), (3, 3, 4, 6))
  hessian = lobs.input_hessian(lobs.conv_patches(x, kernel.shape))
  new_kernel, mask = lobs.lobs_prune(kernel, hessian, 0.2)
  magnitude_mask = cj.topk_mask(jnp.abs(kernel), 0.2)
  error_lobs = jnp.linalg.norm(conv(x, kernel) - conv(x, new_kernel))
  error_magnitude = jnp.linalg.norm(conv(x, kernel) -
                                    conv(x, kernel * magnitude_mask))
  assert int(mask.sum()) == cj.kept_count(kernel.size, 0.2)
  assert error_lobs < error_magnitude, (error_lobs, error_magnitude)


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
