"""Training phases, each resumable from its own checkpoints.

Data order, augmentation and dropout-free updates depend only on (seed,
phase, stage, epoch), so a run resumed from the checkpoint of epoch e repeats
exactly what an uninterrupted run does from epoch e + 1.
"""

import dataclasses
import time
import zlib
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

import coprune_jax as cj
from coprune_jax import sharding
from coprune_jax import tree_paths
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import trainers
from coprune_jax.train.checkpoints import PhaseCheckpoints
from coprune_jax.train.metrics_log import MetricsLog

PyTree = Any
EpochHook = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class PhaseContext:
  """What every phase needs besides its own inputs."""
  classifier: Classifier
  seed: int
  checkpoint_dir: str
  log: MetricsLog
  progress: bool = True
  on_epoch_end: Optional[EpochHook] = None  # e.g. to stop a run in tests
  # An orbax save takes ~0.4 s: small models train many epochs in that time.
  # 0 saves after every epoch; a phase's end is always saved.
  checkpoint_every_seconds: float = 0.0
  # A device mesh for every training step (None: the default device).
  placement: Optional[sharding.Placement] = None

  def epoch_rng(self, phase: str, stage: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng(
        [self.seed, zlib.crc32(phase.encode()), stage, epoch])

  def checkpoint_due(self, last_save: float) -> bool:
    return time.monotonic() - last_save >= self.checkpoint_every_seconds

  def resume_log(self, phase: str, stage: int, epoch: int) -> None:
    """Drops the log records a phase restored at (stage, epoch) redoes."""
    self.log.drop_after(self.seed, phase, stage, epoch)

  def end_epoch(self, record: dict) -> None:
    self.log.write(seed=self.seed, **record)
    if self.on_epoch_end is not None:
      self.on_epoch_end(record)


def make_evaluator(classifier: Classifier, batch_size: int = 500,
                   placement: Optional[sharding.Placement] = None):
  """accuracy(weights, split, masks=None) on every example of the split.

  weights: (params, model_state). With a placement, every batch is split
  over its mesh (padded to a multiple of the devices with label -1, which
  no prediction matches); without, each host evaluates on its own device.
  """
  @jax.jit
  def correct(params, model_state, masks, x, y):
    if masks is not None:
      params = cj.apply_masks(params, masks, straight_through=False)
    logits = classifier.eval_apply(params, model_state, x)
    return jnp.sum(jnp.argmax(logits, -1) == y)

  def accuracy(weights, split: pipeline.Split, masks=None) -> float:
    batches = pipeline.batches(split, batch_size, None, False)
    if placement is None:
      weights, masks = sharding.local_copy((weights, masks))
    else:
      weights, masks = placement.state((weights, masks))
      batches = (placement.batch(_padded(batch, placement.mesh.size))
                 for batch in batches)
    total = sum(int(correct(*weights, masks, x, y)) for x, y in batches)
    return total / len(split)

  return accuracy


def _padded(batch, multiple: int):
  x, y = batch
  missing = -len(y) % multiple
  if not missing:
    return batch
  return (jnp.concatenate([x, jnp.zeros((missing,) + x.shape[1:], x.dtype)]),
          jnp.concatenate([y, jnp.full((missing,), -1, y.dtype)]))


def _copy(tree):
  return jax.tree.map(jnp.copy, tree)


def _finished(state: dict, kept: str, meta: dict) -> dict:
  """The checkpointed state: all of it while training, only `kept` (what
  later phases use) once the phase is done."""
  return {kept: state[kept]} if meta["done"] else state


def train_dense(phase: str, ctx: PhaseContext, init_weights: tuple,
                train: pipeline.Split, val: pipeline.Split, epochs: int,
                batch_size: int, learning_rate: float,
                penalty: Optional[Callable] = None) -> tuple:
  """Full-precision Adam training of (params, model_state).

  `penalty(params)` is added to the loss if given (e.g. network slimming's
  L1 on BatchNorm scales). Returns the weights best on `val`.
  """
  adam = optax.adam(learning_rate)
  batch_size = min(batch_size, len(train))
  evaluate = make_evaluator(ctx.classifier, placement=ctx.placement)

  def step(trained, batch):
    params, model_state, opt_state = trained
    def loss_fn(p):
      logits, new_model_state = ctx.classifier.train_apply(p, model_state,
                                                           batch[0])
      loss = cj.cross_entropy_loss(logits, batch[1])
      if penalty is not None:
        loss = loss + penalty(p)
      return loss, (logits, new_model_state)
    (loss, (logits, model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params)
    updates, opt_state = adam.update(grads, opt_state, params)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch[1])
    return ((optax.apply_updates(params, updates), model_state, opt_state),
            (loss, accuracy))

  step = jax.jit(step)

  with PhaseCheckpoints(f"{ctx.checkpoint_dir}/{phase}") as checkpoints:
    params, model_state = init_weights
    state = {"weights": (params, model_state), "opt_state": adam.init(params),
             "best_weights": (params, model_state)}
    meta = {"epoch": 0, "best_val": -1.0, "done": False}
    restored = checkpoints.restore_latest(
        lambda meta: _finished(state, "best_weights", meta))
    if restored is not None:
      state, meta = restored
    ctx.resume_log(phase, 0, meta["epoch"])
    best_weights = state["best_weights"]
    if meta["done"]:
      return best_weights
    (params, model_state), opt_state = state["weights"], state["opt_state"]
    last_save = time.monotonic()
    bar = tqdm.trange(meta["epoch"], epochs, desc=f"seed {ctx.seed} {phase}",
                      disable=not ctx.progress, leave=False)
    for epoch in bar:
      rng = ctx.epoch_rng(phase, 0, epoch)
      losses, accuracies = [], []
      trained, placed_step, put = trainers.placed(
          ctx.placement, step, (params, model_state, opt_state), 1,
          donate=False)  # the initial weights belong to the caller
      for batch in pipeline.batches(train, batch_size, rng, train=True):
        trained, (loss, accuracy) = placed_step(trained, put(batch))
        losses.append(loss)
        accuracies.append(accuracy)
      params, model_state, opt_state = trained
      val_accuracy = evaluate((params, model_state), val)
      if val_accuracy > meta["best_val"]:
        best_weights = _copy((params, model_state))
        meta["best_val"] = val_accuracy
      record = {"phase": phase, "stage": 0, "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "train_accuracy": float(np.mean(accuracies)),
                "val_accuracy": val_accuracy, "learning_rate": learning_rate}
      bar.set_postfix(loss=f"{record['train_loss']:.3f}",
                      val=f"{val_accuracy:.3f}")
      meta["epoch"], meta["done"] = epoch + 1, epoch + 1 == epochs
      # Logged before the save: a resume drops a logged epoch that was not
      # saved, while a saved epoch that was not logged would leave a gap.
      ctx.end_epoch(record)
      if meta["done"]:
        checkpoints.finish(epoch + 1, {"best_weights": best_weights}, meta)
      elif ctx.checkpoint_due(last_save):
        checkpoints.save(epoch + 1, {"weights": (params, model_state),
                                     "opt_state": opt_state,
                                     "best_weights": best_weights}, meta)
        last_save = time.monotonic()
    return best_weights


def kept_fractions(masks) -> dict[str, float]:
  return {name: float(jnp.mean(m)) for name, m in tree_paths.named_leaves(masks)}


def staged_training(phase: str, ctx: PhaseContext, trainer,
                    target_val: pipeline.Split, patience: int = 3,
                    factor: float = 0.1, min_learning_rate: float = 1e-6,
                    max_epochs_per_stage: int = 100):
  """Runs a trainer (see `trainers`) through its stages.

  Each stage trains until its optimum (target lr below `min_learning_rate`
  or `max_epochs_per_stage`), then the next starts from the stage's best
  state with fresh Adam.

  Returns (best, stage): the state best on target validation accuracy over
  all stages and the stage it came from; `trainer.target(best)` is its
  pruned model.
  """
  evaluate = make_evaluator(ctx.classifier, placement=ctx.placement)
  if ctx.placement is not None:
    trainer = dataclasses.replace(trainer, placement=ctx.placement)
  state = trainer.init_state()
  saved = {"state": state, "stage_best": _copy(state), "best": _copy(state)}
  meta = {"stage": 0, "epoch": 0, "stage_best_val": -1.0, "best_val": -1.0,
          "best_stage": 0, "done": False, "step": 0}
  with PhaseCheckpoints(f"{ctx.checkpoint_dir}/{phase}") as checkpoints:
    restored = checkpoints.restore_latest(
        lambda meta: _finished(saved, "best", meta))
    if restored is not None:
      saved, meta = restored
    ctx.resume_log(phase, meta["stage"], meta["epoch"])
    if meta["done"]:
      return saved["best"], meta["best_stage"]
    state, stage_best, best = saved["state"], saved["stage_best"], saved["best"]
    last_save = time.monotonic()
    bar = tqdm.tqdm(desc=f"seed {ctx.seed} {phase}", disable=not ctx.progress,
                    leave=False, initial=meta["epoch"], unit="epoch")
    while True:
      stage, epoch = meta["stage"], meta["epoch"]
      if cj.reached_optimum(trainer.plateau(state), min_learning_rate,
                            max_epochs_per_stage):
        if stage + 1 == trainer.num_stages:
          meta["done"] = True
          checkpoints.finish(meta["step"] + 1, {"best": best}, meta)
          break
        state = trainer.begin_stage(_copy(stage_best), stage + 1)
        meta.update(stage=stage + 1, epoch=0, stage_best_val=-1.0)
        continue
      state, means = trainer.train_epoch(state, ctx.epoch_rng(phase, stage,
                                                              epoch))
      state = trainer.end_epoch(state, means, patience, factor)
      weights, masks = trainer.target(state)
      val_accuracy = evaluate(weights, target_val, masks)
      if val_accuracy > meta["stage_best_val"]:
        stage_best, meta["stage_best_val"] = _copy(state), val_accuracy
      if val_accuracy > meta["best_val"]:
        best, meta["best_val"] = _copy(state), val_accuracy
        meta["best_stage"] = stage
      meta["epoch"], meta["step"] = epoch + 1, meta["step"] + 1
      record = {"phase": phase, "stage": stage, "epoch": epoch + 1,
                "learning_rate": float(trainer.plateau(state).learning_rate),
                "val_accuracy": val_accuracy, **means,
                "kept_fraction": kept_fractions(masks), **trainer.record(state)}
      bar.update()
      bar.set_postfix(stage=stage, loss=f"{means['target_loss']:.3f}",
                      val=f"{val_accuracy:.3f}")
      ctx.end_epoch(record)  # before the save, as in train_dense
      if ctx.checkpoint_due(last_save):
        checkpoints.save(meta["step"], {"state": state,
                                        "stage_best": stage_best,
                                        "best": best}, meta)
        last_save = time.monotonic()
    bar.close()
    return best, meta["best_stage"]
