"""A Flax Linen classifier seen as pure functions of (params, model_state)."""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any


def split_variables(variables: PyTree) -> tuple[PyTree, dict]:
  """(params, model_state) of a Flax variables dict; `model_state` holds
  every other collection (an empty dict if there is none)."""
  model_state = dict(variables)
  return model_state.pop("params"), model_state


@dataclasses.dataclass(frozen=True)
class Classifier:
  """Splits a module's variables into trained `params` and `model_state`.

  `model_state` holds every other collection (e.g. BatchNorm `batch_stats`);
  it is an empty dict for models without one. The module's `__call__` takes
  `(inputs, train: bool)`.
  """
  module: nn.Module

  def init(self, seed: int, input_shape: tuple[int, ...]):
    dummy = jnp.zeros((1,) + tuple(input_shape), jnp.float32)
    return split_variables(
        self.module.init(jax.random.key(seed), dummy, train=False))

  def train_apply(self, params, model_state, inputs):
    """Training-mode logits and the updated model state."""
    if not model_state:
      return self.module.apply({"params": params}, inputs, train=True), model_state
    logits, updates = self.module.apply({"params": params, **model_state},
                                        inputs, train=True,
                                        mutable=list(model_state))
    return logits, dict(updates)

  def eval_apply(self, params, model_state, inputs):
    return self.module.apply({"params": params, **model_state}, inputs,
                             train=False)
