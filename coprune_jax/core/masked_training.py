"""Training one masked model: the single-domain step of the baselines.

A `domain_step` under `cj.pruned(optimizer, pruner)`, started from given
masks: LWC, OBD, L-OBS and one-time Co-Prune retrain with fixed masks;
DNS and DDC-DNS update the masks with `pruners.dns`.
"""

from typing import Any, Callable, Optional

import jax
import optax

from coprune_jax.core import domain_step
from coprune_jax.core import losses
from coprune_jax.core import plateau
from coprune_jax.core.pruner import Pruner
from coprune_jax.core import pruning
from coprune_jax.core.domain_step import DomainState

PyTree = Any


def init_masked_state(params: PyTree, masks: PyTree,
                      learning_rate: float = 1e-3,
                      model_state: PyTree = None,
                      optimizer: Optional[optax.GradientTransformation] = None,
                      count=0) -> DomainState:
  """A model starting from `masks`, with `optimizer` (default Adam with the
  plateau-controlled lr at `learning_rate`) after `count` updates."""
  return domain_step.init_domain_state(
      params, masks, optimizer or plateau.adam_with_plateau(learning_rate),
      model_state, count)


def make_masked_step(pruner: Pruner,
                     apply_fn: Optional[Callable[..., Any]] = None,
                     loss_fn=losses.cross_entropy_loss,
                     has_model_state: bool = False,
                     objective: Optional[losses.Objective] = None,
                     optimizer: Optional[optax.GradientTransformation] = None):
  """Builds the jitted `step(state, batch) -> (state, metrics)`.

  The model learns `loss_fn(apply_fn(W * M, inputs), labels)` on batches
  (inputs, labels), or any `objective` of the masked params (which replaces
  `apply_fn` and `loss_fn`: e.g. distillation, or DDC's loss on pairs of
  batches). `pruner` says when masks change (`pruners.fixed()`: never,
  and pruned weights get no update). The state's buffers are donated.
  """
  if objective is None:
    if apply_fn is None:
      raise ValueError("make_masked_step needs apply_fn or objective")
    objective = losses.classification_objective(apply_fn, loss_fn,
                                                has_model_state)
  tx = pruning.pruned(optimizer or plateau.adam_with_plateau(), pruner)
  return jax.jit(domain_step.make_domain_update(objective, tx),
                 donate_argnums=0)
