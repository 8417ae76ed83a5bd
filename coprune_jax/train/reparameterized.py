"""Fine-tuning through a reparameterisation of a model's params.

Compression stages train something other than the params themselves: the
centroids of shared weights (Deep Compression), the real-valued shadow
weights of a quantized model. Here Adam trains a pytree `trainable` that
`to_params` turns into the model's params inside the loss, in the one
epoch loop of every phase (`phases.train_phase`, without checkpoints: the
phase is short), and the epoch best on validation is kept.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.train import phases
from coprune_jax.train import stages
from coprune_jax.train import trainers

PyTree = Any


def finetune_through(classifier, model_state: PyTree, trainable: PyTree,
                     to_params: Callable[[PyTree], PyTree],
                     train: pipeline.Split, val: pipeline.Split, epochs: int,
                     batch_size: int, learning_rate: float, seed: int,
                     project: Callable[[PyTree], PyTree] = lambda t: t,
                     progress=print, phase: str = "reparameterized"
                     ) -> tuple[PyTree, float]:
  """Adam on `trainable`, cross-entropy of `to_params(trainable)` on `train`.

  `project` maps `trainable` after every update (e.g. BinaryConnect's clip
  of shadow weights); the model state stays fixed. Each epoch's data order
  comes from (`seed`, `phase`, epoch). Returns the `trainable` best on
  `val` (the start if no epoch beats it) and its validation accuracy.
  """
  trainer = trainers.DenseTrainer(
      classifier.train_apply, (trainable, model_state), train, batch_size,
      learning_rate, to_params=to_params, project=project,
      update_model_state=False)

  def report(record):
    progress(f"epoch {record['epoch']}/{epochs}: loss "
             f"{record['train_loss']:.4f}, val {record['val_accuracy']:.4f}")

  ctx = phases.PhaseContext(classifier, seed, checkpoint_dir=None, log=None,
                            progress=False, on_epoch_end=report)
  start_val = phases.make_evaluator(classifier)((to_params(trainable),
                                                 model_state), val)
  best, outcome = phases.train_phase(
      phase, ctx, trainer, val,
      stages.StageRule(1, min_learning_rate=0.0, max_epochs_per_stage=epochs))
  if outcome.best_val > start_val:
    return best.params, outcome.best_val
  return jax.tree.map(jnp.copy, trainable), start_val
