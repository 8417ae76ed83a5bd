"""One ordinary train step of one model under a `cj.pruned` optimizer.

The loss sees the masked model W * M (straight-through product: what the
pruned weights' gradient becomes is the pruner's choice); the optimizer,
a `cj.pruned` transformation, updates the params and then the masks.
Co-Prune is two of these steps, one per domain, jitted together.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from coprune_jax.core import losses
from coprune_jax.core import pruning
from coprune_jax.core import straight_through

PyTree = Any


class DomainState(NamedTuple):
  """One model's train state; its masks live in `opt_state` (`cj.masks_of`)."""
  params: PyTree
  opt_state: PyTree  # the state of a cj.pruned transformation
  model_state: PyTree  # non-trained collections, e.g. batch_stats

  @property
  def masks(self) -> PyTree:
    return pruning.masks_of(self.opt_state)


def init_domain_state(params: PyTree, masks: PyTree,
                      optimizer: optax.GradientTransformation,
                      model_state: PyTree = None, count=0) -> DomainState:
  """A model starting from `masks` under `cj.pruned(optimizer, ...)` (give
  either), after `count` updates. Own copies of the arrays: the steps
  donate the state, so the caller's arrays survive and one array may start
  two models."""
  params, masks, model_state = jax.tree.map(jnp.copy,
                                            (params, masks, model_state))
  return DomainState(params, pruning.init_with_masks(optimizer, params, masks,
                                                     count), model_state)


def with_fresh_optimizer(state: DomainState,
                         tx: optax.GradientTransformation) -> DomainState:
  """`state` with its optimizer started afresh (a new stage): `tx` is the
  `cj.pruned` transformation or the optimizer it wraps. Params and masks
  stay, and the update count goes on, as schedules of the count expect."""
  return state._replace(opt_state=pruning.init_with_masks(
      tx, state.params, state.masks, state.opt_state.count))


def with_masks(state: DomainState, masks: PyTree) -> DomainState:
  """`state` with `masks` in its `cj.pruned` optimizer state (masks
  computed outside the update, e.g. both domains' in one selection)."""
  return state._replace(opt_state=state.opt_state._replace(masks=masks))


def make_domain_update(objective: losses.Objective,
                       tx: optax.GradientTransformationExtraArgs):
  """Returns `update(state, batch, **extra_args) -> (state, metrics)`.

  `extra_args` go to `tx.update` (e.g. `partner_params` and `alpha` for a
  cooperative pruner). Not jitted: jit the step that calls it. `metrics`
  are the objective's, measured on the masked model before the update.
  """
  def masked_objective(params, masks, model_state, batch):
    return objective(straight_through.apply_masks(params, masks), model_state,
                     batch)

  def update(state: DomainState, batch, **extra_args):
    grads, (model_state, metrics) = jax.grad(masked_objective, has_aux=True)(
        state.params, state.masks, state.model_state, batch)
    updates, opt_state = tx.update(grads, state.opt_state, state.params,
                                   **extra_args)
    return DomainState(optax.apply_updates(state.params, updates), opt_state,
                       model_state), metrics

  return update
