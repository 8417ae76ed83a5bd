import jax
import numpy as np

from coprune_jax.baselines import mmd


def test_zero_for_identical_samples():
  x = jax.random.normal(jax.random.key(0), (64, 8))
  assert abs(float(mmd.mmd_squared(x, x))) < 1e-6


def test_grows_with_the_shift():
  key_x, key_y = jax.random.split(jax.random.key(1))
  x = jax.random.normal(key_x, (128, 4))
  noise = jax.random.normal(key_y, (128, 4))
  values = [float(mmd.mmd_squared(x, noise + shift)) for shift in
            (0.0, 0.5, 1.0, 2.0)]
  assert values[0] < 0.02
  assert all(a < b for a, b in zip(values, values[1:])), values


def test_differentiable():
  x = jax.random.normal(jax.random.key(2), (16, 3))
  grad = jax.grad(lambda y: mmd.mmd_squared(x, y))(x + 1.0)
  assert np.isfinite(np.asarray(grad)).all() and np.abs(grad).sum() > 0
