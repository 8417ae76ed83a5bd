"""Deep domain confusion (Tzeng et al. 2014) as the DDC-DNS objective.

One network sees labelled batches of both domains; its loss is the
cross-entropy on both plus `mmd_weight` times the MMD between the two
domains' penultimate features (the input of the last Dense layer).
"""

from typing import Callable

import flax.linen as nn
import jax.numpy as jnp

from coprune_jax.baselines import mmd
from coprune_jax.core import losses


def logits_and_head_inputs(train_apply: Callable, params, model_state, inputs):
  """(logits, model_state, features): features feed the last Dense layer."""
  head_inputs = []

  def capture(next_fun, args, kwargs, context):
    if context.method_name == "__call__" and isinstance(context.module,
                                                        nn.Dense):
      head_inputs.append(args[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(capture):
    logits, model_state = train_apply(params, model_state, inputs)
  if not head_inputs:
    raise ValueError("the model has no Dense layer whose input could serve "
                     "as penultimate features")
  return logits, model_state, head_inputs[-1]


def ddc_objective(train_apply: Callable, mmd_weight: float = 0.25):
  """objective(params, model_state, (source_batch, target_batch)).

  `train_apply(params, model_state, inputs) -> (logits, model_state)`, as
  `Classifier.train_apply`. Both domains go through one forward pass, so
  normalisation statistics (if any) see both.
  """
  def objective(params, model_state, batch):
    (source_x, source_y), (target_x, target_y) = batch
    n = source_x.shape[0]
    logits, model_state, features = logits_and_head_inputs(
        train_apply, params, model_state,
        jnp.concatenate([source_x, target_x]))
    labels = jnp.concatenate([source_y, target_y])
    classification = losses.cross_entropy_loss(logits, labels)
    discrepancy = mmd.mmd_squared(features[:n], features[n:])
    loss = classification + mmd_weight * discrepancy
    accuracy = jnp.mean(jnp.argmax(logits[n:], -1) == target_y)
    return loss, (model_state, {"loss": loss, "accuracy": accuracy,
                                "classification_loss": classification,
                                "mmd": discrepancy})

  return objective
