"""Tiny parameter trees in the three layouts users bring: Linen, NNX, plain dict."""

import gc

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from flax import nnx


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
  """Drops each module's compiled programs after it: they would otherwise
  pile up over the suite (several GB on CPU)."""
  yield
  jax.clear_caches()
  gc.collect()


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


@pytest.fixture(params=["linen", "nnx", "dict"])
def any_params(request):
  return {"linen": linen_params, "nnx": nnx_params, "dict": dict_params}[
      request.param]()
