"""Trainers: what the one epoch loop (`phases.train_phase`) trains.

A trainer (`Trainer`) says how to start, train one epoch, feed the plateau
control, start the next stage from the best state of the last one, which
target model (weights and masks) its state holds, whether an epoch may be
selected, and what of the best state a finished phase keeps. Co-Prune, the
single-model methods and dense (pre)training are trainers;
`phases.train_phase` runs any of them under one protocol: stages to their
optimum, the best epoch on validation data, checkpoints and resumption.
"""

import dataclasses
from typing import Any, Callable, NamedTuple, Optional, Protocol
from typing import runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from coprune_jax import pruners
from coprune_jax import sharding
from coprune_jax.core import alpha as alpha_lib
from coprune_jax.core import cooperative
from coprune_jax.core import domain_step
from coprune_jax.core import losses
from coprune_jax.core import masked_training
from coprune_jax.core import plateau as plateau_lib
from coprune_jax.core import pruning
from coprune_jax.core import tree_paths
from coprune_jax.core.domain_step import DomainState
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.train import alpha_probe as alpha_probe_lib

PyTree = Any


@runtime_checkable
class Trainer(Protocol):
  """What `phases.train_phase` needs of a trainer."""
  num_stages: int
  loss_key: str  # the epoch metric the progress bar shows

  def init_state(self) -> Any:
    """The state before the first epoch (own arrays: steps donate it)."""

  def train_epoch(self, state, rng) -> tuple[Any, dict]:
    """(state, the epoch's mean metrics) after one pass over the data in
    the order `rng` (a numpy Generator) draws."""

  def end_epoch(self, state, means: dict, patience: int, factor: float):
    """`state` with its plateau control fed the epoch's metrics."""

  def plateau(self, state) -> plateau_lib.PlateauState:
    """The plateau state whose optimum ends a stage."""

  def begin_stage(self, stage_best, stage: int):
    """The next stage's first state, from the last stage's best."""

  def target(self, state) -> tuple[tuple, Any]:
    """((params, model_state), masks or None) of the model evaluated."""

  def at_budget(self, state) -> bool:
    """Whether this epoch's model may be selected (e.g. not while a
    gradual schedule is still denser than the budget)."""

  def final(self, state):
    """What a finished phase keeps of its best state."""

  def record(self, state) -> dict:
    """Extra entries of the epoch's log record."""


def _add(sums: dict, metrics: dict) -> dict:
  return {k: sums.get(k, 0.0) + v for k, v in metrics.items()}


def _flat_masks(masks) -> Optional[np.ndarray]:
  """Every entry of a mask tree, flat on the host; None without masks."""
  leaves = jax.tree.leaves(masks)
  if not leaves:
    return None
  return np.concatenate([np.asarray(m, bool).ravel() for m in leaves])


def _epoch_means(step, state, batches, prefix: str = ""):
  """Runs `step(state, batch) -> (state, metrics)` over `batches`; returns
  (state, the mean of each metric, named with `prefix`)."""
  sums, steps = {}, 0
  for batch in batches:
    state, metrics = step(state, batch)
    sums = _add(sums, metrics)
    steps += 1
  return state, {f"{prefix}{k}": float(v) / steps for k, v in sums.items()}


def mask_overlap(source_masks, target_masks) -> dict[str, float]:
  """Intersection over union of the kept sets, per pruned parameter."""
  overlap = {}
  for (name, s), (_, t) in zip(tree_paths.named_leaves(source_masks),
                               tree_paths.named_leaves(target_masks)):
    union = int(jnp.sum(s | t))
    overlap[name] = int(jnp.sum(s & t)) / union if union else 1.0
  return overlap


def placed(placement: Optional[sharding.Placement], step, state,
           num_batches: int, donate: bool = True):
  """(state, step, put_batch) on `placement`'s mesh, or as they are.

  `donate=False` where the caller's state may still be referenced (the
  placed state can be the same arrays)."""
  if placement is None:
    return _committed(state), step, lambda batch: batch
  state = placement.state(state)
  return (state, placement.step(step, state, num_batches, donate),
          placement.batch)


def _committed(state):
  """The state with every array committed to the one device its committed
  arrays are on (the state as it is if none or several).

  jit compiles a program for each pattern of committed and uncommitted
  inputs. Weights restored from a checkpoint and a step's outputs are
  committed, a fresh state's scalars (optimizer counts, plateau state,
  alpha) are not: without this the step compiled again on its second call
  and at every new stage (20-30 s each for a CIFAR-Net step on the CPU).
  """
  arrays = [x for x in jax.tree.leaves(state) if isinstance(x, jax.Array)]
  devices = {d for x in arrays if x.committed for d in x.devices()}
  if len(devices) != 1:
    return state
  device, = devices
  return jax.tree.map(
      lambda x: (jax.device_put(x, device)
                 if isinstance(x, jax.Array) and not x.committed else x),
      state)


def _stacked(batches, size: int):
  """Groups of `size` batches, each array stacked on a second axis."""
  while True:
    group = [b for _, b in zip(range(size), batches)]
    if not group:
      return
    # On the device the batches were augmented on: no copy to the host.
    yield jax.tree.map(lambda *arrays: jnp.stack(arrays, axis=1), *group)


def check_initial_masks(initial_masks: str) -> None:
  if initial_masks not in ("ones", "pruned"):
    raise ValueError(f"initial_masks must be 'ones' or 'pruned', got "
                     f"{initial_masks!r}")


@dataclasses.dataclass
class CoPruneTrainer:
  """Both domains at once, each under its own pruner
  (`cooperative.cooperative_pruning`); published: the source's magnitude
  masks, the target's of the fused source and target weights."""
  train_apply: Callable
  schedule: alpha_lib.AlphaSchedule
  source_weights: tuple  # (params, model_state)
  target_weights: tuple
  source_train: pipeline.Split
  target_train: pipeline.Split
  batch_size: int
  source_pruner: pruners.Pruner
  target_pruner: pruners.Pruner
  learning_rate: float = 1e-3
  # "pruned": the pruners' masks of the start's weights from the first step
  # on, as the reference code does; "ones": a dense first step (see
  # protocol.prune_config for why that is not the default).
  initial_masks: str = "pruned"
  placement: Optional[sharding.Placement] = None  # a mesh, or one device
  # Source updates per target update; 1 as published.
  source_steps: int = 1
  # Each stage's alpha chosen on target validation data instead of the
  # schedule's (the schedule's alpha is one of the candidates).
  alpha_probe: Optional[alpha_probe_lib.AlphaProbe] = None
  loss_key = "target_loss"

  def __post_init__(self):
    check_initial_masks(self.initial_masks)
    optimizer = plateau_lib.adam_with_plateau(self.learning_rate)
    self.coprune = cooperative.cooperative_pruning(
        pruning.pruned(optimizer, self.source_pruner),
        pruning.pruned(optimizer, self.target_pruner),
        losses.classification_objective(self.train_apply,
                                        has_model_state=True),
        source_steps=self.source_steps)
    self.step = self.coprune.step
    self.probed = {}  # stage -> {alpha: validation accuracy}, for the log

  def at_budget(self, state) -> bool:
    # A gradual pruner's epochs before its budget step are denser: they do
    # not compete for the best.
    return (int(state.target.opt_state.count)
            >= self.target_pruner.budget_step)

  @property
  def num_stages(self) -> int:
    return self.schedule.num_stages

  def init_state(self) -> cooperative.CoPruneState:
    # With an alpha probe this trains a few epochs per candidate, also when
    # the phase then resumes from a checkpoint.
    return self._initial_state(self._stage_alpha(0, self._initial_state))

  def _initial_state(self, alpha: float) -> cooperative.CoPruneState:
    (source_params, source_state), (target_params, target_state) = (
        self.source_weights, self.target_weights)
    masks = self.coprune.first_masks(source_params, target_params, alpha)
    if self.initial_masks == "ones" or self.target_pruner.budget_step > 0:
      # A dense start: all ones where the masks prune.
      masks = jax.tree.map(jnp.ones_like, masks)
    return self.coprune.init(source_params, target_params, alpha,
                             source_state, target_state, masks)

  def _stage_alpha(self, stage: int, start_with) -> float:
    if self.alpha_probe is None:
      return self.schedule(stage)
    # Each candidate trains its own copy: the step donates its state.
    own_copy = lambda alpha: jax.tree.map(jnp.copy, start_with(alpha))
    self.probed[stage] = self.alpha_probe.accuracies(
        self, own_copy, self.schedule(stage), stage)
    return alpha_probe_lib.best_alpha(self.probed[stage])

  def train_epoch(self, state, rng):
    steps = len(self.target_train) // self.batch_size
    source_batches = pipeline.random_batches(
        self.source_train, self.batch_size, steps * self.source_steps, rng)
    if self.source_steps > 1:
      source_batches = _stacked(source_batches, self.source_steps)
    state, step, put = placed(self.placement, self.step, state, 2)
    batch_pairs = ((put(next(source_batches)), put(target_batch))
                   for target_batch in pipeline.batches(
                       self.target_train, self.batch_size, rng, True))
    return _epoch_means(lambda state, pair: step(state, *pair), state,
                        batch_pairs)

  def end_epoch(self, state, means, patience, factor):
    # The plateau control watches epochs at the keep ratios only: a gradual
    # ramp's denser epochs have a loss no epoch at the ratios can beat, which
    # would lower the rate every patience (as a dense first step did).
    if not self.at_budget(state):
      return state
    return self.coprune.end_epoch(state, means["source_loss"],
                                  means["target_loss"], patience, factor)

  def plateau(self, state):
    return state.target_plateau

  def begin_stage(self, stage_best, stage):
    start_with = lambda alpha: self.coprune.begin_stage(stage_best, alpha)
    return start_with(self._stage_alpha(stage, start_with))

  def target(self, state):
    return (state.target_params, state.target_model_state), state.target_masks

  def final(self, state):
    return state

  def record(self, state) -> dict:
    record = {"alpha": float(state.alpha),
              "mask_iou": mask_overlap(state.source_masks, state.target_masks)}
    probed = self.probed.get(int(state.stage))
    if probed:  # not after a resume inside a later stage: not probed again
      record["alpha_probe"] = {f"{a:g}": v for a, v in probed.items()}
    return record


@dataclasses.dataclass
class MaskedTrainer:
  """One model under a pruner (any of `cj.pruners`), started from given
  masks (`Pruner.start`'s), with `optimizer` (default Adam under the
  plateau rule at `learning_rate`).

  The one-shot methods keep their first masks, DNS updates them, a
  gradual pruner's epochs before its `budget_step` are not selected.
  DDC-DNS: also `source_train` and an `objective` of (source, target)
  batch pairs. No masks (a tree of None) and no pruner: dense training,
  e.g. distillation with its `objective`.
  """
  train_apply: Callable
  initial_weights: tuple  # (params, model_state), e.g. L-OBS-compensated
  initial_masks: PyTree
  target_train: pipeline.Split
  batch_size: int
  num_stages: int
  learning_rate: float = 1e-3
  pruner: Optional[pruners.Pruner] = None  # default pruners.fixed()
  optimizer: Optional[optax.GradientTransformation] = None
  objective: Optional[losses.Objective] = None
  source_train: Optional[pipeline.Split] = None  # batches paired with target's
  placement: Optional[sharding.Placement] = None  # a mesh, or one device
  loss_key = "target_loss"

  def __post_init__(self):
    self.pruner = self.pruner or pruners.fixed()
    self.optimizer = (self.optimizer
                      or plateau_lib.adam_with_plateau(self.learning_rate))
    self.step = masked_training.make_masked_step(
        self.pruner, self.train_apply, has_model_state=True,
        objective=self.objective, optimizer=self.optimizer)

  def init_state(self) -> DomainState:
    return masked_training.init_masked_state(
        self.initial_weights[0], self.initial_masks,
        model_state=self.initial_weights[1], optimizer=self.optimizer)

  def train_epoch(self, state, rng):
    steps = len(self.target_train) // self.batch_size
    if self.source_train is not None:
      source_batches = pipeline.random_batches(self.source_train,
                                               self.batch_size, steps, rng)
    state, step, put = placed(self.placement, self.step, state, 1)
    batches = pipeline.batches(self.target_train, self.batch_size, rng, True)
    if self.source_train is not None:
      batches = ((next(source_batches), batch) for batch in batches)
    kept_before = _flat_masks(state.masks)
    state, means = _epoch_means(step, state, map(put, batches),
                                prefix="target_")
    if kept_before is not None:  # the masks' count and churn this epoch
      kept = _flat_masks(state.masks)
      means.update(kept=int(kept.sum()),
                   regrown=int(np.sum(kept & ~kept_before)))
    return state, means

  def end_epoch(self, state, means, patience, factor):
    return state._replace(opt_state=plateau_lib.plateau_end_epoch(
        state.opt_state, means["target_loss"], patience, factor))

  def plateau(self, state):
    return plateau_lib.plateau_of(state.opt_state)

  def begin_stage(self, stage_best, stage):
    del stage
    # A fresh optimizer; the update count goes on (DNS's schedule reads it).
    return domain_step.with_fresh_optimizer(stage_best, self.optimizer)

  def target(self, state):
    return (state.params, state.model_state), state.masks

  def at_budget(self, state) -> bool:
    return int(state.opt_state.count) >= self.pruner.budget_step

  def final(self, state):
    return state

  def record(self, state) -> dict:
    del state
    return {}


class DenseState(NamedTuple):
  params: PyTree  # the trained tree: the params, or what makes them
  model_state: PyTree
  opt_state: PyTree  # optax.adam's
  plateau: plateau_lib.PlateauState  # counts epochs; the lr stays fixed


def _identity(tree):
  return tree


@dataclasses.dataclass
class DenseTrainer:
  """Full-precision Adam training for a fixed number of epochs: one stage
  whose optimum is its last epoch (pretraining, fine-tuning).

  `penalty(params)` is added to the loss if given (e.g. network slimming's
  L1 on BatchNorm scales). Compression stages train something that makes
  the params instead (shared weights' centroids, a quantized model's
  shadow weights): then `initial_weights` holds that tree, `to_params`
  turns it into the params inside the loss, `project` maps it after every
  update (e.g. BinaryConnect's clip), and `update_model_state=False` keeps
  the model state (e.g. BatchNorm statistics) as it is.
  """
  train_apply: Callable
  initial_weights: tuple  # (params or trained tree, model_state)
  train: pipeline.Split
  batch_size: int
  learning_rate: float
  penalty: Optional[Callable] = None
  placement: Optional[sharding.Placement] = None
  to_params: Callable = _identity
  project: Callable = _identity
  update_model_state: bool = True
  num_stages = 1
  loss_key = "train_loss"

  def __post_init__(self):
    adam = self.adam = optax.adam(self.learning_rate)

    def step(state: DenseState, batch):
      def loss_fn(trained):
        params = self.to_params(trained)
        logits, model_state = self.train_apply(params, state.model_state,
                                               batch[0])
        loss = losses.cross_entropy_loss(logits, batch[1])
        if self.penalty is not None:
          loss = loss + self.penalty(params)
        return loss, (logits, model_state)
      (loss, (logits, model_state)), grads = jax.value_and_grad(
          loss_fn, has_aux=True)(state.params)
      updates, opt_state = adam.update(grads, state.opt_state, state.params)
      if not self.update_model_state:
        model_state = state.model_state
      accuracy = jnp.mean(jnp.argmax(logits, -1) == batch[1])
      return state._replace(
          params=self.project(optax.apply_updates(state.params, updates)),
          model_state=model_state, opt_state=opt_state), (loss, accuracy)

    self.step = jax.jit(step, donate_argnums=0)

  def init_state(self) -> DenseState:
    # Own copies: the step donates the state, the weights are the caller's.
    params, model_state = jax.tree.map(jnp.copy, self.initial_weights)
    return DenseState(params, model_state, self.adam.init(params),
                      plateau_lib.plateau_init(self.learning_rate))

  def train_epoch(self, state, rng):
    batch_size = min(self.batch_size, len(self.train))
    state, step, put = placed(self.placement, self.step, state, 1)
    losses, accuracies = [], []
    for batch in pipeline.batches(self.train, batch_size, rng, True):
      state, (loss, accuracy) = step(state, put(batch))
      losses.append(loss)
      accuracies.append(accuracy)
    return state, {"train_loss": float(np.mean(losses)),
                   "train_accuracy": float(np.mean(accuracies))}

  def end_epoch(self, state, means, patience, factor):
    del patience, factor
    # factor 1: the plateau state only counts the epochs, the lr is fixed.
    return state._replace(plateau=plateau_lib.plateau_update(
        state.plateau, means["train_loss"], factor=1.0))

  def plateau(self, state):
    return state.plateau

  def begin_stage(self, stage_best, stage):
    raise AssertionError("a dense trainer has one stage")

  def final(self, state):
    # What a finished phase keeps: no optimizer state (it is not resumed).
    return state._replace(opt_state=None)

  def target(self, state):
    return (self.to_params(state.params), state.model_state), None

  def at_budget(self, state) -> bool:
    del state
    return True

  def record(self, state) -> dict:
    del state
    return {}
