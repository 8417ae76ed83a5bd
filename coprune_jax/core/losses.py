"""Losses and the objectives a train step differentiates."""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

PyTree = Any
# objective(masked_params, model_state, batch) -> (loss, (model_state, metrics))
Objective = Callable[[PyTree, PyTree, Any], tuple[jax.Array, tuple[PyTree, dict]]]


def cross_entropy_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy with integer labels."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def classification_objective(
    apply_fn: Callable[..., Any],
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array] = cross_entropy_loss,
    has_model_state: bool = False) -> Objective:
  """`loss_fn(apply_fn(params, inputs), labels)` on batches (inputs, labels).

  `apply_fn(params, inputs) -> logits`, or with `has_model_state`
  `apply_fn(params, model_state, inputs) -> (logits, new_model_state)`.
  Metrics: the loss and, for integer labels, the accuracy.
  """
  def objective(params, model_state, batch):
    inputs, labels = batch
    if has_model_state:
      logits, model_state = apply_fn(params, model_state, inputs)
    else:
      logits = apply_fn(params, inputs)
    loss = loss_fn(logits, labels)
    metrics = {"loss": loss}
    if jnp.issubdtype(jnp.result_type(labels), jnp.integer):
      metrics["accuracy"] = jnp.mean(jnp.argmax(logits, -1) == labels)
    return loss, (model_state, metrics)

  return objective
