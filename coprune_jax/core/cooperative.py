"""Cooperative (Co-Prune) training of a source and a target model.

Co-Prune is two ordinary train steps, one per domain, jitted together: each
model trains on its own data with its own objective under its own
`cj.pruned` transformation. With the published pruners the source keeps its
largest weights (`pruners.magnitude`) and the target ranks the fused
weights of the updated source and the target (`pruners.cooperative`), but
any pruner may drive either domain. The only coupling is the partner's
params (and the stage's alpha) handed to each update; the state is the two
domains' train states plus alpha and the stage index.

  adam = cj.adam_with_plateau(1e-3)  # the protocol's optimizer
  coprune = cj.cooperative_pruning(
      cj.pruned(adam, cj.pruners.magnitude(ratios)),
      cj.pruned(adam, cj.pruners.cooperative(ratios, alpha=0.7)),
      cj.classification_objective(apply_fn))
  state = coprune.init(source_params, target_params, alpha=0.7)
  state, metrics = coprune.step(state, source_batch, target_batch)

(`cj.published_coprune(ratios, objective)` builds the same.)
"""

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from coprune_jax.core import domain_step
from coprune_jax.core import losses
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import plateau
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


def _check_pruned(tx, domain: str) -> None:
  if not isinstance(tx, pruning.PrunedTransformation):
    raise TypeError(
        f"{domain}_tx must be a cj.pruned(optimizer, pruner) transformation, "
        f"got {type(tx).__name__}; put other transformations inside it, "
        f"e.g. cj.pruned(optax.chain(optax.clip_by_global_norm(1.0), "
        f"optax.adam(1e-3)), pruner)")


def _same_tree(a: PyTree, b: PyTree) -> bool:
  """Whether two keep-ratio trees (Python numbers, None) are equal."""
  is_none = lambda x: x is None
  leaves_a, structure_a = jax.tree.flatten(a, is_leaf=is_none)
  leaves_b, structure_b = jax.tree.flatten(b, is_leaf=is_none)
  return structure_a == structure_b and leaves_a == leaves_b


def _without_mask_updates(tx: pruning.PrunedTransformation):
  return pruning.pruned(tx.inner,
                        dataclasses.replace(tx.pruner, update_every=0))


@dataclasses.dataclass(frozen=True)
class CooperativePruning:
  """A source and a target model pruned together; see `cooperative_pruning`.

  Attributes:
    source_tx, target_tx: each domain's `cj.pruned(optimizer, pruner)`.
    objective: `objective(masked_params, model_state, batch) -> (loss,
      (model_state, metrics))` of the target (`losses.Objective`).
    source_objective: the source's, if it differs (default `objective`).
    source_steps: source updates per step, each on its own batch.
  """
  source_tx: pruning.PrunedTransformation
  target_tx: pruning.PrunedTransformation
  objective: losses.Objective
  source_objective: Optional[losses.Objective] = None
  source_steps: int = 1

  def __post_init__(self):
    _check_pruned(self.source_tx, "source")
    _check_pruned(self.target_tx, "target")
    if (isinstance(self.source_steps, bool)
        or not isinstance(self.source_steps, int) or self.source_steps < 1):
      raise ValueError(f"source_steps must be an integer >= 1, got "
                       f"{self.source_steps!r}")

  def init(self, source_params: PyTree, target_params: PyTree,
           alpha: float = 0.7, source_model_state: PyTree = None,
           target_model_state: PyTree = None,
           masks: Optional[tuple] = None) -> CoPruneState:
    """Starts a cooperative run at stage 0 with fresh optimizers.

    Args:
      source_params: the source model trained on source data (W_s).
      target_params: that model fine-tuned on the target data (W_t).
      alpha: transfer factor of the first stage.
      source_model_state, target_model_state: optional non-trained model
        variables (e.g. Flax `batch_stats`), for models with such state.
      masks: optional (source masks, target masks) to start from, e.g.
        `first_masks(...)` or a channel mask function's; by default each
        transformation's own initial masks (`tx.init`).
    """
    tree_paths.check_same_layout(source_params, target_params,
                                 "source params", "target params")
    masks_lib.check_alpha(alpha)

    def start(tx, params, own_masks, model_state):
      if own_masks is None:
        _, own_masks = tx.pruner.start(params)  # as tx.init would
      return domain_step.init_domain_state(params, own_masks, tx,
                                           model_state)

    source_masks, target_masks = (None, None) if masks is None else masks
    return CoPruneState(
        source=start(self.source_tx, source_params, source_masks,
                     source_model_state),
        target=start(self.target_tx, target_params, target_masks,
                     target_model_state),
        alpha=jnp.asarray(alpha, jnp.float32),
        stage=jnp.zeros((), jnp.int32))

  def first_masks(self, source_params: PyTree, target_params: PyTree,
                  alpha: float) -> tuple[PyTree, PyTree]:
    """(source masks, target masks) that each pruner computes from the
    start's weights, before any update (the reference code prunes before
    its first iteration)."""
    return (self.source_tx.pruner.masks_before_updates(
                source_params, target_params, alpha=alpha),
            self.target_tx.pruner.masks_before_updates(
                target_params, source_params, alpha=alpha))

  @functools.cached_property
  def step(self) -> Callable[[CoPruneState, Any, Any],
                             tuple[CoPruneState, dict]]:
    """The jitted `step(state, source_batch, target_batch) -> (state,
    metrics)`: `source_steps` source updates, then one target update with
    the updated source as partner and the state's alpha.

    Batches are `(inputs, labels)`; with `source_steps > 1` every array of
    `source_batch` has a second axis of that length, (batch, source_steps,
    ...), and the source metrics are their means. The input state's
    buffers are donated. `metrics` are both domains' objective metrics,
    prefixed "source_" and "target_", measured on the masked models before
    the update.
    """
    return jax.jit(self._step, donate_argnums=0)

  def _step(self, state: CoPruneState, source_batch, target_batch):
    source_pruner, target_pruner = self.source_tx.pruner, self.target_tx.pruner
    # Two top-k pruners at the same budget: both domains' masks are
    # selected together after both updates, one pass instead of two on an
    # accelerator; each layer's selection is exact and independent of the
    # others, so the masks are the pruners' own.
    joint = (source_pruner.scores_fn is not None
             and target_pruner.scores_fn is not None
             and source_pruner.update_every == 1
             and target_pruner.update_every == 1
             and source_pruner.scope == target_pruner.scope)
    if joint:
      source_ratios = source_pruner.keep_ratio_tree(state.source.params)
      target_ratios = target_pruner.keep_ratio_tree(state.target.params)
      joint = _same_tree(source_ratios, target_ratios)
    last_source_tx, target_tx = self.source_tx, self.target_tx
    if joint:
      last_source_tx = _without_mask_updates(self.source_tx)
      target_tx = _without_mask_updates(self.target_tx)
    source_objective = self.source_objective or self.objective
    source_update, last_source_update = (
        domain_step.make_domain_update(source_objective, tx)
        for tx in (self.source_tx, last_source_tx))
    target_update = domain_step.make_domain_update(self.objective, target_tx)

    source_partner = ({"partner_params": state.target.params}
                      if source_pruner.needs_partner else {})
    source = state.source
    if self.source_steps == 1:
      source, source_metrics = last_source_update(source, source_batch,
                                                  **source_partner)
    else:
      # Unrolled: a `lax.scan` of these updates ran ~15x slower per update
      # on the CPU backend (10 CIFAR-Net updates, JAX 0.10.2).
      metrics = []
      for i in range(self.source_steps):
        batch = jax.tree.map(lambda a, i=i: a[:, i], source_batch)
        update = (last_source_update if i == self.source_steps - 1
                  else source_update)
        source, step_metrics = update(source, batch, **source_partner)
        metrics.append(step_metrics)
      source_metrics = jax.tree.map(lambda *m: jnp.mean(jnp.stack(m)),
                                    *metrics)
    target, target_metrics = target_update(
        state.target, target_batch, partner_params=source.params,
        alpha=state.alpha)
    if joint:
      source_masks, target_masks = masks_lib.score_mask_trees(
          [source_pruner.scores_fn(source.params, source_ratios,
                                   target.params, source.opt_state.count,
                                   alpha=state.alpha),
           target_pruner.scores_fn(target.params, target_ratios,
                                   source.params, target.opt_state.count,
                                   alpha=state.alpha)],
          source_ratios, source_pruner.scope)
      source = domain_step.with_masks(source, source_masks)
      target = domain_step.with_masks(target, target_masks)
    metrics = {f"source_{k}": v for k, v in source_metrics.items()}
    metrics.update({f"target_{k}": v for k, v in target_metrics.items()})
    return state._replace(source=source, target=target), metrics

  def begin_stage(self, state: CoPruneState, alpha: float,
                  stage: Optional[int] = None) -> CoPruneState:
    """Moves to the next alpha stage with both optimizers started afresh.

    Pass the restored best state of the finished stage, as the protocol
    asks; params, masks and update counts carry over.
    """
    masks_lib.check_alpha(alpha)
    next_stage = state.stage + 1 if stage is None else stage
    return state._replace(
        source=domain_step.with_fresh_optimizer(state.source, self.source_tx),
        target=domain_step.with_fresh_optimizer(state.target, self.target_tx),
        alpha=jnp.asarray(alpha, jnp.float32),
        stage=jnp.asarray(next_stage, jnp.int32))

  @staticmethod
  def end_epoch(state: CoPruneState, source_loss, target_loss,
                patience: int = 3, factor: float = 0.1) -> CoPruneState:
    """Feeds each domain's mean training loss of the epoch to its plateau
    control (optimizers with `plateau.scale_by_plateau`)."""
    source, target = state.source, state.target
    return state._replace(
        source=source._replace(opt_state=plateau.plateau_end_epoch(
            source.opt_state, source_loss, patience, factor)),
        target=target._replace(opt_state=plateau.plateau_end_epoch(
            target.opt_state, target_loss, patience, factor)))

  @staticmethod
  def stage_finished(state: CoPruneState, min_learning_rate: float = 1e-6,
                     max_epochs: int = 100) -> bool:
    """Whether the current stage reached its optimum (target lr < 1e-6)."""
    return bool(plateau.reached_optimum(state.target_plateau,
                                        min_learning_rate, max_epochs))


def cooperative_pruning(source_tx: pruning.PrunedTransformation,
                        target_tx: pruning.PrunedTransformation,
                        objective: losses.Objective, *,
                        source_objective: Optional[losses.Objective] = None,
                        source_steps: int = 1) -> CooperativePruning:
  """Co-Prune from two pruned transformations and the objective(s).

  Args:
    source_tx: the source's `cj.pruned(optimizer, pruner)`; published:
      `pruners.magnitude(keep_ratios)` under
      `plateau.adam_with_plateau(1e-3)`.
    target_tx: the target's; published: `pruners.cooperative(keep_ratios,
      alpha)` under the same optimizer. Its pruner gets the updated
      source's params as partner and the state's alpha at every update.
    objective: the target's `losses.Objective`, e.g.
      `losses.classification_objective(apply_fn)`.
    source_objective: the source's, if it differs.
    source_steps: source updates per step, each on its own batch. The
      published step is 1; with few target labels an epoch is a step or
      two, and the source, pruned alongside, then trains no longer than
      the target.

  Returns:
    A `CooperativePruning`: `init`, `first_masks`, the jitted `step`,
    `end_epoch`, `stage_finished` and `begin_stage`.
  """
  return CooperativePruning(source_tx, target_tx, objective,
                            source_objective, source_steps)

