"""Training phases, each resumable from its own checkpoints.

Data order, augmentation and dropout-free updates depend only on (seed,
phase, stage, epoch), so a run resumed from the checkpoint of epoch e repeats
exactly what an uninterrupted run does from epoch e + 1.
"""

import dataclasses
import functools
import time
import zlib
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from coprune_jax import sharding
from coprune_jax.core import straight_through
from coprune_jax.core import tree_paths
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import stages
from coprune_jax.train import trainers
from coprune_jax.train.checkpoints import NoCheckpoints
from coprune_jax.train.checkpoints import PhaseCheckpoints
from coprune_jax.train.metrics_log import MetricsLog

PyTree = Any
EpochHook = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class PhaseContext:
  """What every phase needs besides its own inputs."""
  classifier: Classifier
  seed: int
  checkpoint_dir: Optional[str]  # None: the phases keep no checkpoints
  log: Optional[MetricsLog]  # None: epochs only reach `on_epoch_end`
  progress: bool = True
  on_epoch_end: Optional[EpochHook] = None  # e.g. to stop a run in tests
  # An orbax save takes ~0.4 s: small models train many epochs in that time.
  # 0 saves after every epoch; a phase's end is always saved.
  checkpoint_every_seconds: float = 0.0
  # A device mesh for every training step (None: the default device).
  placement: Optional[sharding.Placement] = None
  # The seed sequence of an epoch's data order, from (seed, phase, stage,
  # epoch); None: all four.
  order_seed: Optional[Callable[[int, str, int, int], list]] = None

  def epoch_rng(self, phase: str, stage: int, epoch: int) -> np.random.Generator:
    if self.order_seed is not None:
      return np.random.default_rng(self.order_seed(self.seed, phase, stage,
                                                   epoch))
    return np.random.default_rng(
        [self.seed, zlib.crc32(phase.encode()), stage, epoch])

  def checkpoint_due(self, last_save: float) -> bool:
    return time.monotonic() - last_save >= self.checkpoint_every_seconds

  def checkpoints(self, phase: str):
    if self.checkpoint_dir is None:
      return NoCheckpoints()
    return PhaseCheckpoints(f"{self.checkpoint_dir}/{phase}")

  def resume_log(self, phase: str, stage: int, epoch: int) -> None:
    """Drops the log records a phase restored at (stage, epoch) redoes."""
    if self.log is not None:
      self.log.drop_after(self.seed, phase, stage, epoch)

  def end_epoch(self, record: dict) -> None:
    if self.log is not None:
      self.log.write(seed=self.seed, **record)
    if self.on_epoch_end is not None:
      self.on_epoch_end(record)


@functools.partial(jax.jit, static_argnums=0)
def _num_correct(classifier: Classifier, params, model_state, masks, x, y):
  if masks is not None:
    params = straight_through.apply_masks(params, masks, straight_through=False)
  logits = classifier.eval_apply(params, model_state, x)
  return jnp.sum(jnp.argmax(logits, -1) == y)


def make_evaluator(classifier: Classifier, batch_size: int = 500,
                   placement: Optional[sharding.Placement] = None):
  """accuracy(weights, split, masks=None) on every example of the split.

  weights: (params, model_state). With a placement, every batch is split
  over its mesh; without, each host evaluates on its own device. Every
  batch of a split has one shape (the last one padded with label -1,
  which no prediction matches), and the program is shared by every
  evaluator of an equal classifier: a table's phases evaluate many times
  on the same splits, and each new shape or evaluator used to compile
  again.
  """
  def accuracy(weights, split: pipeline.Split, masks=None) -> float:
    size = min(batch_size, len(split))
    if placement is not None:
      size += -size % placement.mesh.size
    batches = (_padded(batch, size)
               for batch in pipeline.batches(split, size, None, False))
    if placement is None:
      weights, masks = sharding.local_copy((weights, masks))
    else:
      weights, masks = placement.state((weights, masks))
      batches = map(placement.batch, batches)
    total = sum(int(_num_correct(classifier, *weights, masks, x, y))
                for x, y in batches)
    return total / len(split)

  return accuracy


def _padded(batch, size: int):
  x, y = batch
  missing = size - len(y)
  if not missing:
    return batch
  return (jnp.concatenate([x, jnp.zeros((missing,) + x.shape[1:], x.dtype)]),
          jnp.concatenate([y, jnp.full((missing,), -1, y.dtype)]))


def _copy(tree):
  return jax.tree.map(jnp.copy, tree)


def _finished(trainer: trainers.Trainer, state: dict, meta: dict) -> dict:
  """The checkpointed state: all of it while training, only the best (what
  later phases use, `trainer.final`) once the phase is done."""
  return {"best": trainer.final(state["best"])} if meta["done"] else state


def train_dense(phase: str, ctx: PhaseContext, init_weights: tuple,
                train: pipeline.Split, val: pipeline.Split, epochs: int,
                batch_size: int, learning_rate: float,
                penalty: Optional[Callable] = None) -> tuple:
  """Full-precision Adam training of (params, model_state) for `epochs`.

  `penalty(params)` is added to the loss if given (e.g. network slimming's
  L1 on BatchNorm scales). Returns the weights best on `val`.
  """
  trainer = trainers.DenseTrainer(ctx.classifier.train_apply, init_weights,
                                  train, batch_size, learning_rate, penalty)
  best, _ = train_phase(phase, ctx, trainer, val,
                        stages.StageRule(1, min_learning_rate=0.0,
                                         max_epochs_per_stage=epochs))
  return trainer.target(best)[0]


def kept_fractions(masks) -> dict[str, float]:
  return {name: float(jnp.mean(m)) for name, m in tree_paths.named_leaves(masks)}


def staged_training(phase: str, ctx: PhaseContext, trainer: trainers.Trainer,
                    target_val: pipeline.Split, patience: int = 3,
                    factor: float = 0.1, min_learning_rate: float = 1e-6,
                    max_epochs_per_stage: int = 100,
                    monitor: Optional[pipeline.Split] = None):
  """Runs a trainer (see `trainers`) through its stages.

  Each stage trains until its optimum (target lr below `min_learning_rate`
  or `max_epochs_per_stage`), then the next starts from the stage's best
  state with fresh Adam.

  Returns (best, progress): the state best on target validation accuracy
  over all stages (`trainer.target(best)` is its pruned model) and the
  phase's `stages.Progress` (`best_stage`: where it came from); `monitor`
  as in `train_phase`.
  """
  rule = stages.StageRule(trainer.num_stages, min_learning_rate,
                          max_epochs_per_stage)
  return train_phase(phase, ctx, trainer, target_val, rule, patience, factor,
                     monitor)


def train_phase(phase: str, ctx: PhaseContext, trainer: trainers.Trainer,
                val: pipeline.Split,
                rule: stages.StageRule, patience: int = 3,
                factor: float = 0.1,
                monitor: Optional[pipeline.Split] = None):
  """The one epoch loop: trains `trainer` (see `trainers`) as `rule` says.

  After every epoch: the plateau control gets the epoch's loss, the target
  model is evaluated on `val`, the stage's and the run's best states are
  kept, the epoch is logged and, when due, checkpointed; a resumed phase
  repeats what an uninterrupted one does. With `monitor` (test data, for
  the paper's test-selected figure), the model is also evaluated there
  every epoch and the best accuracy kept in `Progress.best_monitored`;
  it selects nothing.

  Returns (best, progress): the state best on `val` over all stages and
  the phase's final `stages.Progress` (`best_stage`, `best_monitored`).
  """
  evaluate = make_evaluator(ctx.classifier, placement=ctx.placement)
  if ctx.placement is not None:
    trainer = dataclasses.replace(trainer, placement=ctx.placement)
  state = trainer.init_state()
  saved = {"state": state, "stage_best": _copy(state), "best": _copy(state)}
  progress = stages.Progress()
  with ctx.checkpoints(phase) as checkpoints:
    restored = checkpoints.restore_latest(
        lambda meta: _finished(trainer, saved, meta))
    if restored is not None:
      saved, meta = restored
      progress = stages.Progress.from_meta(meta)
    ctx.resume_log(phase, progress.stage, progress.epoch)
    if progress.done:
      return saved["best"], progress
    state, stage_best, best = saved["state"], saved["stage_best"], saved["best"]
    last_save = time.monotonic()
    bar = tqdm.tqdm(desc=f"seed {ctx.seed} {phase}", disable=not ctx.progress,
                    leave=False, initial=progress.step, unit="epoch")
    while True:
      action = rule.next_action(progress, trainer.plateau(state))
      if action == stages.DONE:
        progress = stages.finished(progress)
        checkpoints.finish(progress.step, {"best": trainer.final(best)},
                           progress.as_meta())
        break
      if action == stages.NEXT_STAGE:
        # A stage with no eligible epoch hands on where it ended.
        start = stage_best if progress.stage_best_val >= 0 else state
        progress = stages.next_stage(progress)
        state = trainer.begin_stage(_copy(start), progress.stage)
        continue
      stage, epoch = progress.stage, progress.epoch
      epoch_start = time.monotonic()
      state, means = trainer.train_epoch(state, ctx.epoch_rng(phase, stage,
                                                              epoch))
      state = trainer.end_epoch(state, means, patience, factor)
      weights, masks = trainer.target(state)
      val_accuracy = evaluate(weights, val, masks)
      eligible = trainer.at_budget(state)
      progress, is_stage_best, is_best = stages.after_epoch(
          progress, val_accuracy, eligible)
      monitored = {}
      if monitor is not None:
        monitored["monitored_accuracy"] = evaluate(weights, monitor, masks)
        progress = stages.monitored(progress,
                                    monitored["monitored_accuracy"])
      if is_stage_best:
        stage_best = _copy(state)
      if is_best:
        best = _copy(state)
      record = {"phase": phase, "stage": stage, "epoch": epoch + 1,
                "learning_rate": float(trainer.plateau(state).learning_rate),
                "val_accuracy": val_accuracy, **monitored, **means}
      if masks is not None:
        record["kept_fraction"] = kept_fractions(masks)
      record.update(trainer.record(state))
      # The epoch's wall time, its evaluation included (not its checkpoint).
      record["seconds"] = round(time.monotonic() - epoch_start, 4)
      bar.update()
      bar.set_postfix(stage=stage, loss=f"{means[trainer.loss_key]:.3f}",
                      val=f"{val_accuracy:.3f}")
      # Logged before the save: a resume drops a logged epoch that was not
      # saved, while a saved epoch that was not logged would leave a gap.
      ctx.end_epoch(record)
      # The last epoch needs no save: the phase's end is saved next.
      if (ctx.checkpoint_due(last_save) and rule.next_action(
          progress, trainer.plateau(state)) != stages.DONE):
        checkpoints.save(progress.step, {"state": state,
                                         "stage_best": stage_best,
                                         "best": best}, progress.as_meta())
        last_save = time.monotonic()
    bar.close()
    return best, progress
