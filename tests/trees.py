"""Tiny parameter trees in the three layouts users bring: Linen, NNX, plain dict."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from coprune_jax.data import input_pipeline as pipeline


class TinyLinen(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(4, (3, 3), name="conv1")(x))
    x = nn.LayerNorm(name="norm")(x)
    return nn.Dense(3, name="fc")(x.mean(axis=(1, 2)))


class TinyNnx(nnx.Module):
  def __init__(self, rngs):
    self.conv1 = nnx.Conv(2, 4, (3, 3), rngs=rngs)
    self.norm = nnx.LayerNorm(4, rngs=rngs)
    self.fc = nnx.Linear(4, 3, rngs=rngs)

  def __call__(self, x):
    x = self.norm(nnx.relu(self.conv1(x)))
    return self.fc(x.mean(axis=(1, 2)))


def linen_params():
  return TinyLinen().init(jax.random.key(0), jnp.ones((1, 5, 5, 2)))["params"]


def nnx_params():
  return nnx.state(TinyNnx(nnx.Rngs(0)), nnx.Param)


def dict_params():
  keys = jax.random.split(jax.random.key(0), 3)
  return {
      "conv1": {"kernel": jax.random.normal(keys[0], (3, 3, 2, 4)),
                "bias": jnp.zeros(4)},
      "norm": {"scale": jnp.ones(4), "bias": jnp.zeros(4)},
      "fc": [jax.random.normal(keys[1], (4, 3)), jnp.zeros(3)],
  }


def class_batch(seed, num_classes=3, size=24, shift=0.0):
  """Images whose mean pattern depends on the label, plus noise."""
  key_labels, key_noise, key_proto = jax.random.split(jax.random.key(seed), 3)
  prototypes = jax.random.normal(jax.random.key(99), (num_classes, 5, 5, 2))
  labels = jax.random.randint(key_labels, (size,), 0, num_classes)
  noise = 0.3 * jax.random.normal(key_noise, (size, 5, 5, 2))
  return prototypes[labels] + noise + shift, labels


def linen_apply(params, inputs):
  return TinyLinen().apply({"params": params}, inputs)


def features(seed, size):
  """A 3-class split of 6-d features, one class per shifted axis."""
  rng = np.random.default_rng(seed)
  y = np.arange(size) % 3
  x = rng.normal(size=(size, 6)) + 1.5 * np.eye(3, 6)[y]
  return pipeline.Split(x.astype(np.float32), y, np.zeros(6, np.float32),
                        np.ones(6, np.float32))
