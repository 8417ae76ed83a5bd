"""The cooperative (Co-Prune) training step for a source and a target model.

Both models train at once, each on its own data with its own loss and Adam
state; the only coupling is the target mask, computed from the fused source
and target weights. One jitted step updates both domains' params through the
straight-through estimator and recomputes both masks.
"""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import optax

from coprune_jax import masked_update
from coprune_jax import masks as masks_lib
from coprune_jax import plateau
from coprune_jax import tree_paths

PyTree = Any


class CoPruneState(NamedTuple):
  """Everything a cooperative run carries between steps; a checkpointable pytree."""
  source_params: PyTree
  target_params: PyTree
  source_opt_state: PyTree  # optax.scale_by_adam state
  target_opt_state: PyTree
  source_masks: PyTree  # bool arrays where pruned, None where dense
  target_masks: PyTree
  source_plateau: plateau.PlateauState  # holds the source learning rate
  target_plateau: plateau.PlateauState  # its optimum ends the stage
  source_model_state: PyTree  # non-trained collections, e.g. batch_stats
  target_model_state: PyTree
  alpha: jax.Array  # float32 scalar
  stage: jax.Array  # int32 scalar: index into the alpha schedule
  step: jax.Array  # int32 scalar: cooperative steps taken


def init_coprune_state(source_params: PyTree, target_params: PyTree,
                       keep_ratios: PyTree, alpha: float = 0.7,
                       learning_rate: float = 1e-3,
                       source_model_state: PyTree = None,
                       target_model_state: PyTree = None,
                       masks: Optional[tuple] = None) -> CoPruneState:
  """Starts a cooperative run: masks all ones, fresh Adam, stage 0.

  Args:
    source_params: the source model trained on source data (W_s).
    target_params: that model fine-tuned on the target data (W_t).
    keep_ratios: from `keep_ratio_tree`, shared by both domains (unused, may
      be None, when `masks` is given).
    alpha: transfer factor of the first stage.
    learning_rate: Adam's starting learning rate for both domains.
    source_model_state, target_model_state: optional non-trained model
      variables (e.g. Flax `batch_stats`), for models with such state.
    masks: optional (source masks, target masks) to start from instead of
      all ones where `keep_ratios` prunes, e.g. the all-ones version of
      another mask function's masks (channel masks also cover biases).
  """
  tree_paths.check_same_layout(source_params, target_params, "source params",
                               "target params")
  masks_lib.check_alpha(alpha)
  if masks is None:
    tree_paths.check_same_layout(keep_ratios, source_params,
                                 "keep-ratio tree", "params",
                                 compare_shapes=False)
    masks = (masks_lib.all_ones_masks(source_params, keep_ratios),
             masks_lib.all_ones_masks(target_params, keep_ratios))
  source_masks, target_masks = jax.tree.map(jnp.copy, masks)
  masks_lib.check_masks(source_params, source_masks)
  masks_lib.check_masks(target_params, target_masks)
  # The step donates the state's buffers: own copies, so that the caller's
  # arrays survive and one array may start both domains.
  source_params, target_params, source_model_state, target_model_state = (
      jax.tree.map(jnp.copy, (source_params, target_params,
                              source_model_state, target_model_state)))
  adam = masked_update.adam()
  return CoPruneState(
      source_params=source_params,
      target_params=target_params,
      source_opt_state=adam.init(source_params),
      target_opt_state=adam.init(target_params),
      source_masks=source_masks,
      target_masks=target_masks,
      source_plateau=plateau.plateau_init(learning_rate),
      target_plateau=plateau.plateau_init(learning_rate),
      source_model_state=source_model_state,
      target_model_state=target_model_state,
      alpha=jnp.asarray(alpha, jnp.float32),
      stage=jnp.zeros((), jnp.int32),
      step=jnp.zeros((), jnp.int32))


def cross_entropy_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy with integer labels."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_cooperative_step(
    apply_fn: Callable[..., Any],
    keep_ratios: PyTree,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array] = cross_entropy_loss,
    fusion: Union[str, masks_lib.Fusion] = "signed",
    scope: str = "layer",
    has_model_state: bool = False,
    straight_through_gradient: bool = True,
    update_masks: bool = True,
    mask_fn: Optional[Callable[..., tuple]] = None,
) -> Callable[[CoPruneState, Any, Any], tuple[CoPruneState, dict]]:
  """Builds the jitted `step(state, source_batch, target_batch)`.

  Args:
    apply_fn: `apply_fn(params, inputs) -> logits`, or with `has_model_state`
      `apply_fn(params, model_state, inputs) -> (logits, new_model_state)`.
      The same function serves both domains (same architecture).
    keep_ratios: from `keep_ratio_tree` (static: fixes the kept counts).
    loss_fn: `loss_fn(logits, labels) -> scalar`.
    fusion: target-mask fusion, see `cooperative_masks`.
    scope: "layer" or "global" ranking, see `score_masks`.
    has_model_state: whether `apply_fn` takes and returns model state.
    straight_through_gradient: give pruned weights the full gradient
      (dynamic pruning); False gives them zero gradient.
    update_masks: recompute both masks after every update (Co-Prune); False
      keeps the state's masks fixed (one-time Co-Prune, fixed-mask retraining).
    mask_fn: `mask_fn(source_params, target_params, alpha) -> (source_masks,
      target_masks)`, jittable, replacing `cooperative_masks` (then
      `keep_ratios`, `fusion` and `scope` are unused), e.g. the channel
      masks of `structured.cooperative.cooperative_channel_masks`.

  Returns:
    A jitted function `step(state, source_batch, target_batch) -> (state,
    metrics)` with batches `(inputs, labels)`; the input state's buffers are
    donated, so do not reuse it. `metrics` holds both domains' loss and, for
    integer labels, accuracy, measured on the masked models before the update.
  """
  if mask_fn is None:
    fuse = masks_lib.resolve_fusion(fusion)
    mask_fn = lambda source, target, alpha: masks_lib.cooperative_masks(
        source, target, alpha, keep_ratios, fuse, scope)
  adam_update = masked_update.make_masked_adam_update(
      masked_update.classification_objective(apply_fn, loss_fn,
                                             has_model_state),
      straight_through_gradient)

  def step(state: CoPruneState, source_batch, target_batch):
    source_params, source_opt_state, source_model_state, source_metrics = (
        adam_update(state.source_params, state.source_opt_state,
                    state.source_masks, state.source_model_state,
                    state.source_plateau.learning_rate, source_batch))
    target_params, target_opt_state, target_model_state, target_metrics = (
        adam_update(state.target_params, state.target_opt_state,
                    state.target_masks, state.target_model_state,
                    state.target_plateau.learning_rate, target_batch))
    if update_masks:
      source_masks, target_masks = mask_fn(source_params, target_params,
                                           state.alpha)
    else:
      source_masks, target_masks = state.source_masks, state.target_masks
    new_state = state._replace(
        source_params=source_params, target_params=target_params,
        source_opt_state=source_opt_state, target_opt_state=target_opt_state,
        source_masks=source_masks, target_masks=target_masks,
        source_model_state=source_model_state,
        target_model_state=target_model_state,
        step=state.step + 1)
    metrics = {f"source_{k}": v for k, v in source_metrics.items()}
    metrics.update({f"target_{k}": v for k, v in target_metrics.items()})
    return new_state, metrics

  return jax.jit(step, donate_argnums=0)


def end_epoch(state: CoPruneState, source_loss, target_loss,
              patience: int = 3, factor: float = 0.1) -> CoPruneState:
  """Feeds each domain's mean training loss of the epoch to its plateau control."""
  return state._replace(
      source_plateau=plateau.plateau_update(state.source_plateau, source_loss,
                                            patience, factor),
      target_plateau=plateau.plateau_update(state.target_plateau, target_loss,
                                            patience, factor))


def stage_finished(state: CoPruneState, min_learning_rate: float = 1e-6,
                   max_epochs: int = 100) -> bool:
  """Whether the current alpha stage reached its optimum (target lr < 1e-6)."""
  return bool(plateau.reached_optimum(state.target_plateau, min_learning_rate,
                                      max_epochs))


def begin_stage(state: CoPruneState, alpha: float,
                learning_rate: float = 1e-3,
                stage: Optional[int] = None) -> CoPruneState:
  """Moves to the next alpha stage with fresh Adam at `learning_rate`.

  Pass the restored best state of the finished stage, as the protocol asks.
  """
  masks_lib.check_alpha(alpha)
  adam = masked_update.adam()
  next_stage = state.stage + 1 if stage is None else stage
  return state._replace(
      source_opt_state=adam.init(state.source_params),
      target_opt_state=adam.init(state.target_params),
      source_plateau=plateau.plateau_init(learning_rate),
      target_plateau=plateau.plateau_init(learning_rate),
      alpha=jnp.asarray(alpha, jnp.float32),
      stage=jnp.asarray(next_stage, jnp.int32))
