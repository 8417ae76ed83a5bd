"""One Adam update of a masked model: the shared inner step of every trainer."""

from typing import Any

import jax
import optax

from coprune_jax import domain_step
from coprune_jax import straight_through

PyTree = Any
# Adam's state is kept apart from its learning rate, which the plateau
# controller owns: optax.adam(lr) is exactly scale_by_adam then scale by -lr.
adam = optax.scale_by_adam


Objective = domain_step.Objective
classification_objective = domain_step.classification_objective


def make_masked_adam_update(objective: Objective,
                            straight_through_gradient: bool):
  """Returns update(params, opt_state, masks, model_state, learning_rate,
  batch) -> (params, opt_state, model_state, metrics).

  The objective sees W * M; `straight_through_gradient` gives pruned weights
  the full gradient, otherwise they get none. `metrics` are the objective's,
  measured before the update.
  """
  optimizer = adam()

  def masked_objective(params, masks, model_state, batch):
    masked = straight_through.apply_masks(params, masks,
                                          straight_through_gradient)
    return objective(masked, model_state, batch)

  def update(params, opt_state, masks, model_state, learning_rate, batch):
    grads, (model_state, metrics) = jax.grad(masked_objective, has_aux=True)(
        params, masks, model_state, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    updates = jax.tree.map(lambda u: (-learning_rate * u).astype(u.dtype),
                           updates)
    return optax.apply_updates(params, updates), opt_state, model_state, metrics

  return update
