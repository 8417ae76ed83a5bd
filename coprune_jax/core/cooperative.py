"""The cooperative (Co-Prune) training step for a source and a target model.

Co-Prune is two ordinary train steps, one per domain, jitted together: each
model trains on its own data with its own loss under its own `cj.pruned`
optimizer (Adam with the plateau-controlled learning rate by default). The
source's pruner keeps its largest weights; the target's (a cooperative
pruner) ranks the fused weights of the updated source and the target (for
plain top-k masks both are selected together, after both updates). The
only coupling is that target mask; the state is the two domains' train
states plus alpha and the stage index.
"""

import dataclasses
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import optax

from coprune_jax.core import domain_step
from coprune_jax.core import losses
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import plateau
from coprune_jax.core import pruners as pruners_lib
from coprune_jax.core import pruning
from coprune_jax.core import tree_paths
from coprune_jax.core.domain_step import DomainState

PyTree = Any


class CoPruneState(NamedTuple):
  """Everything a cooperative run carries between steps; a checkpointable pytree."""
  source: DomainState
  target: DomainState
  alpha: jax.Array  # float32 scalar
  stage: jax.Array  # int32 scalar: index into the alpha schedule

  # Read-only views, for reports and tests.
  source_params = property(lambda self: self.source.params)
  target_params = property(lambda self: self.target.params)
  source_masks = property(lambda self: self.source.masks)
  target_masks = property(lambda self: self.target.masks)
  source_model_state = property(lambda self: self.source.model_state)
  target_model_state = property(lambda self: self.target.model_state)
  source_plateau = property(
      lambda self: plateau.plateau_of(self.source.opt_state))
  target_plateau = property(  # its optimum ends the stage
      lambda self: plateau.plateau_of(self.target.opt_state))


def init_coprune_state(source_params: PyTree, target_params: PyTree,
                       keep_ratios: PyTree, alpha: float = 0.7,
                       learning_rate: float = 1e-3,
                       source_model_state: PyTree = None,
                       target_model_state: PyTree = None,
                       masks: Optional[tuple] = None,
                       optimizer: Optional[optax.GradientTransformation] = None
                       ) -> CoPruneState:
  """Starts a cooperative run: masks all ones, fresh optimizers, stage 0.

  Args:
    source_params: the source model trained on source data (W_s).
    target_params: that model fine-tuned on the target data (W_t).
    keep_ratios: from `keep_ratio_tree`, shared by both domains (unused, may
      be None, when `masks` is given).
    alpha: transfer factor of the first stage.
    learning_rate: the starting learning rate of both domains' default
      optimizer (`adam_with_plateau`).
    source_model_state, target_model_state: optional non-trained model
      variables (e.g. Flax `batch_stats`), for models with such state.
    masks: optional (source masks, target masks) to start from instead of
      all ones where `keep_ratios` prunes, e.g. the reference's pruned
      start, or the all-ones version of another mask function's masks
      (channel masks also cover biases).
    optimizer: the transformation both domains train with, instead of
      `plateau.adam_with_plateau(learning_rate)`; pass the same to
      `make_cooperative_step` and `begin_stage`.
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
  masks_lib.check_masks(source_params, masks[0])
  masks_lib.check_masks(target_params, masks[1])
  optimizer = optimizer or plateau.adam_with_plateau(learning_rate)
  return CoPruneState(
      source=domain_step.init_domain_state(source_params, masks[0], optimizer,
                                           source_model_state),
      target=domain_step.init_domain_state(target_params, masks[1], optimizer,
                                           target_model_state),
      alpha=jnp.asarray(alpha, jnp.float32),
      stage=jnp.zeros((), jnp.int32))


def coprune_pruners(keep_ratios: PyTree,
                    fusion: Union[str, masks_lib.Fusion] = "signed",
                    scope: str = "layer",
                    straight_through_gradient: bool = True,
                    update_masks: bool = True,
                    mask_fn: Optional[Callable[..., tuple]] = None,
                    hysteresis: float = 0.0, gradual_steps: int = 0
                    ) -> tuple[pruners_lib.Pruner, pruners_lib.Pruner]:
  """(source pruner, target pruner) of the cooperative step; see there."""
  gradient = "straight_through" if straight_through_gradient else "masked"
  update_every = 1 if update_masks else 0
  if mask_fn is None:
    if gradual_steps:
      # Co-Prune recomputes both domains' masks at every step, past the
      # schedule's end too.
      source = pruners_lib.gradual_magnitude(
          keep_ratios, begin_step=0, end_step=gradual_steps,
          update_every=update_every, gradient=gradient, fixed_from_end=False)
    else:
      source = pruners_lib.magnitude(keep_ratios, scope=scope,
                                     update_every=update_every,
                                     gradient=gradient)
    return source, pruners_lib.cooperative(
        keep_ratios, 0.0, fusion, scope=scope, update_every=update_every,
        gradient=gradient, hysteresis=hysteresis,
        gradual_steps=gradual_steps)

  # A joint mask function: the source's masks depend on the source alone.
  def source_masks(params, keep_ratios, partner_params, count, **extra_args):
    del keep_ratios, partner_params, count, extra_args
    return mask_fn(params, params, jnp.zeros((), jnp.float32))[0]

  def target_masks(params, keep_ratios, partner_params, count, *, alpha,
                   **extra_args):
    del keep_ratios, count, extra_args
    return mask_fn(partner_params, params, alpha)[1]

  # The masks' layout is the mask function's (given to init_coprune_state):
  # the keep ratios are placeholders.
  every_leaf = lambda name, leaf: True
  return (pruners_lib.Pruner(1.0, source_masks, update_every, gradient,
                             prunable=every_leaf),
          pruners_lib.Pruner(1.0, target_masks, update_every, gradient,
                             needs_partner=True, prunable=every_leaf))


def make_cooperative_step(
    apply_fn: Callable[..., Any],
    keep_ratios: PyTree,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array] = (
        losses.cross_entropy_loss),
    fusion: Union[str, masks_lib.Fusion] = "signed",
    scope: str = "layer",
    has_model_state: bool = False,
    straight_through_gradient: bool = True,
    update_masks: bool = True,
    mask_fn: Optional[Callable[..., tuple]] = None,
    optimizer: Optional[optax.GradientTransformation] = None,
    hysteresis: float = 0.0,
    gradual_steps: int = 0,
    source_steps: int = 1,
) -> Callable[[CoPruneState, Any, Any], tuple[CoPruneState, dict]]:
  """Builds the jitted `step(state, source_batch, target_batch)`.

  The step is two ordinary train steps (`domain_step`): the source under
  `cj.pruned(optimizer, pruners.magnitude(keep_ratios))`, then the target
  under `cj.pruned(optimizer, pruners.cooperative(keep_ratios, ...))` with
  the updated source as partner and the state's alpha.

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
      (dynamic pruning); False gives them no update at all.
    update_masks: recompute both masks after every update (Co-Prune); False
      keeps the state's masks fixed (one-time Co-Prune, fixed-mask retraining).
    mask_fn: `mask_fn(source_params, target_params, alpha) -> (source_masks,
      target_masks)`, jittable, replacing `cooperative_masks` (then
      `keep_ratios`, `fusion` and `scope` are unused), e.g. the channel
      masks of `structured.cooperative.cooperative_channel_masks`.
    optimizer: both domains' transformation (default `adam_with_plateau`;
      its learning rate comes from the state), the one given to
      `init_coprune_state`.
    hysteresis, gradual_steps: options of `pruners.cooperative` (the
      source follows `pruners.gradual_magnitude` with `gradual_steps` of
      its own updates).
    source_steps: source updates per step, each on its own batch: then every
      array of `source_batch` has a second axis of this length, (batch,
      source_steps, ...), and the source metrics are their means. The
      published step is 1; with few target labels an epoch is a step or
      two, and the source, pruned alongside, trains no longer than the
      target (RESULTS.md).

  Returns:
    A jitted function `step(state, source_batch, target_batch) -> (state,
    metrics)` with batches `(inputs, labels)`; the input state's buffers are
    donated, so do not reuse it. `metrics` holds both domains' loss and, for
    integer labels, accuracy, measured on the masked models before the update.
  """
  if source_steps < 1:
    raise ValueError(f"source_steps must be >= 1, got {source_steps}")
  source_pruner, target_pruner = coprune_pruners(
      keep_ratios, fusion, scope, straight_through_gradient, update_masks,
      mask_fn, hysteresis, gradual_steps)
  # Plain top-k masks of both domains are selected together after both
  # updates: one selection of both trees costs less than two on a GPU
  # (RESULTS.md, issue 15), and the masks are the pruners' own (each layer's
  # selection is exact and independent of the others).
  joint_masks = (update_masks and mask_fn is None and not hysteresis
                 and not gradual_steps)
  last_source_pruner = source_pruner
  if joint_masks:
    last_source_pruner = dataclasses.replace(source_pruner, update_every=0)
    target_pruner = dataclasses.replace(target_pruner, update_every=0)
  optimizer = optimizer or plateau.adam_with_plateau()
  objective = losses.classification_objective(apply_fn, loss_fn,
                                                    has_model_state)
  source_update, last_source_update, target_update = (
      domain_step.make_domain_update(objective,
                                     pruning.pruned(optimizer, pruner))
      for pruner in (source_pruner, last_source_pruner, target_pruner))

  def train_source(source, source_batch):
    if source_steps == 1:
      return last_source_update(source, source_batch)
    # Unrolled: a `lax.scan` of these updates ran ~15x slower per update on
    # the CPU backend (10 CIFAR-Net updates, JAX 0.10.2).
    metrics = []
    for i in range(source_steps):
      batch = jax.tree.map(lambda a: a[:, i], source_batch)
      update = last_source_update if i == source_steps - 1 else source_update
      source, step_metrics = update(source, batch)
      metrics.append(step_metrics)
    return source, jax.tree.map(lambda *m: jnp.mean(jnp.stack(m)), *metrics)

  def step(state: CoPruneState, source_batch, target_batch):
    source, source_metrics = train_source(state.source, source_batch)
    target, target_metrics = target_update(
        state.target, target_batch, partner_params=source.params,
        alpha=state.alpha)
    if joint_masks:
      source_masks, target_masks = masks_lib.cooperative_masks(
          source.params, target.params, state.alpha,
          source_pruner.keep_ratio_tree(source.params), fusion, scope)
      source = domain_step.with_masks(source, source_masks)
      target = domain_step.with_masks(target, target_masks)
    metrics = {f"source_{k}": v for k, v in source_metrics.items()}
    metrics.update({f"target_{k}": v for k, v in target_metrics.items()})
    return state._replace(source=source, target=target), metrics

  return jax.jit(step, donate_argnums=0)


def end_epoch(state: CoPruneState, source_loss, target_loss,
              patience: int = 3, factor: float = 0.1) -> CoPruneState:
  """Feeds each domain's mean training loss of the epoch to its plateau control."""
  source, target = state.source, state.target
  return state._replace(
      source=source._replace(opt_state=plateau.plateau_end_epoch(
          source.opt_state, source_loss, patience, factor)),
      target=target._replace(opt_state=plateau.plateau_end_epoch(
          target.opt_state, target_loss, patience, factor)))


def stage_finished(state: CoPruneState, min_learning_rate: float = 1e-6,
                   max_epochs: int = 100) -> bool:
  """Whether the current alpha stage reached its optimum (target lr < 1e-6)."""
  return bool(plateau.reached_optimum(state.target_plateau, min_learning_rate,
                                      max_epochs))


def begin_stage(state: CoPruneState, alpha: float,
                learning_rate: float = 1e-3,
                stage: Optional[int] = None,
                optimizer: Optional[optax.GradientTransformation] = None
                ) -> CoPruneState:
  """Moves to the next alpha stage with fresh optimizers at `learning_rate`.

  Pass the restored best state of the finished stage, as the protocol asks;
  params and masks carry over. `optimizer` as given to `init_coprune_state`
  (then `learning_rate` is unused).
  """
  masks_lib.check_alpha(alpha)
  optimizer = optimizer or plateau.adam_with_plateau(learning_rate)

  next_stage = state.stage + 1 if stage is None else stage
  fresh = lambda domain: domain_step.with_fresh_optimizer(domain, optimizer)
  return state._replace(source=fresh(state.source), target=fresh(state.target),
                        alpha=jnp.asarray(alpha, jnp.float32),
                        stage=jnp.asarray(next_stage, jnp.int32))
