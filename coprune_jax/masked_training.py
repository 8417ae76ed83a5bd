"""Training one masked model: fixed-mask retraining and dynamic baselines.

The single-domain counterpart of the cooperative step, for the baselines:
LWC, OBD and L-OBS retrain with a fixed mask (no straight-through gradient);
DNS and DDC-DNS update the mask during training (straight-through).
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from coprune_jax import cooperative
from coprune_jax import masked_update
from coprune_jax import masks as masks_lib
from coprune_jax import plateau

PyTree = Any
# mask_update(params, masks, step, key) -> masks, called after each update.
MaskUpdate = Callable[[PyTree, PyTree, jax.Array, jax.Array], PyTree]


class MaskedState(NamedTuple):
  params: PyTree
  opt_state: PyTree
  masks: PyTree  # bool arrays where pruned, None where dense
  plateau: plateau.PlateauState
  model_state: PyTree
  step: jax.Array  # int32 scalar


def init_masked_state(params: PyTree, masks: PyTree,
                      learning_rate: float = 1e-3,
                      model_state: PyTree = None) -> MaskedState:
  masks_lib.check_masks(params, masks)
  params, masks, model_state = jax.tree.map(jnp.copy,
                                            (params, masks, model_state))
  return MaskedState(params, masked_update.adam().init(params), masks,
                     plateau.plateau_init(learning_rate), model_state,
                     jnp.zeros((), jnp.int32))


def make_masked_step(apply_fn: Optional[Callable[..., Any]] = None,
                     loss_fn=cooperative.cross_entropy_loss,
                     has_model_state: bool = False,
                     straight_through_gradient: bool = False,
                     mask_update: Optional[MaskUpdate] = None,
                     seed: int = 0,
                     objective: Optional[masked_update.Objective] = None):
  """Builds the jitted `step(state, batch) -> (state, metrics)`.

  The model learns `loss_fn(apply_fn(W * M, inputs), labels)` on batches
  (inputs, labels), or any `objective` of the masked params (which replaces
  `apply_fn` and `loss_fn`: e.g. distillation, or DDC's loss on pairs of
  batches). Without `mask_update` the masks stay fixed. The key passed to
  `mask_update` is derived from `seed` and the step count, so runs repeat
  exactly. The state's buffers are donated.
  """
  if objective is None:
    if apply_fn is None:
      raise ValueError("make_masked_step needs apply_fn or objective")
    objective = masked_update.classification_objective(apply_fn, loss_fn,
                                                       has_model_state)
  update = masked_update.make_masked_adam_update(objective,
                                                 straight_through_gradient)
  base_key = jax.random.key(seed)

  def step(state: MaskedState, batch):
    params, opt_state, model_state, metrics = update(
        state.params, state.opt_state, state.masks, state.model_state,
        state.plateau.learning_rate, batch)
    masks = state.masks
    if mask_update is not None:
      masks = mask_update(params, masks, state.step,
                          jax.random.fold_in(base_key, state.step))
    return state._replace(params=params, opt_state=opt_state, masks=masks,
                          model_state=model_state, step=state.step + 1), metrics

  return jax.jit(step, donate_argnums=0)
