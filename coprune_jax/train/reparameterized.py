"""Fine-tuning through a reparameterisation of a model's params.

Compression stages train something other than the params themselves: the
centroids of shared weights (Deep Compression), the real-valued shadow
weights of a quantized model. Here Adam trains a pytree `trainable` that
`to_params` turns into the model's params inside the loss, and the epoch
best on validation is kept.
"""

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import coprune_jax as cj
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.train import phases

PyTree = Any


def finetune_through(classifier, model_state: PyTree, trainable: PyTree,
                     to_params: Callable[[PyTree], PyTree],
                     train: pipeline.Split, val: pipeline.Split, epochs: int,
                     batch_size: int, learning_rate: float, seed: int,
                     project: Callable[[PyTree], PyTree] = lambda t: t,
                     progress=print) -> tuple[PyTree, float]:
  """Adam on `trainable`, cross-entropy of `to_params(trainable)` on `train`.

  `project` maps `trainable` after every update (e.g. BinaryConnect's clip
  of shadow weights). Returns the `trainable` best on `val` (the start if no
  epoch beats it) and its validation accuracy.
  """
  evaluate = phases.make_evaluator(classifier)
  adam = optax.adam(learning_rate)

  @jax.jit
  def step(trainable, opt_state, batch):
    def loss_fn(t):
      logits, _ = classifier.train_apply(to_params(t), model_state, batch[0])
      return cj.cross_entropy_loss(logits, batch[1])
    loss, grads = jax.value_and_grad(loss_fn)(trainable)
    updates, opt_state = adam.update(grads, opt_state, trainable)
    return project(optax.apply_updates(trainable, updates)), opt_state, loss

  accuracy = lambda t: evaluate((to_params(t), model_state), val)
  opt_state = adam.init(trainable)
  best, best_val = trainable, accuracy(trainable)
  rng = np.random.default_rng(seed)
  for epoch in range(epochs):
    start, losses = time.monotonic(), []
    for batch in pipeline.batches(train, min(batch_size, len(train)), rng,
                                  train=True):
      trainable, opt_state, loss = step(trainable, opt_state, batch)
      losses.append(float(loss))
    val_accuracy = accuracy(trainable)
    if val_accuracy > best_val:
      best, best_val = jax.tree.map(jnp.copy, trainable), val_accuracy
    progress(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}, val "
             f"{val_accuracy:.4f} ({time.monotonic() - start:.1f} s)")
  return best, best_val
