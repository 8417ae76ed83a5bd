"""The stage rule of staged pruning, apart from any training.

A stage trains until its optimum (the plateau control's learning rate falls
below a floor, or a cap on its epochs); the next stage starts from the
stage's best epoch on validation data; the run keeps the best epoch over
all stages. `StageRule` decides what comes next and `Progress` is the
bookkeeping a checkpoint carries; both are pure, so the rule is testable
without a model.
"""

import dataclasses

from coprune_jax.core import plateau

TRAIN, NEXT_STAGE, DONE = "train", "next_stage", "done"


def steps_per_epoch(batch_size: int, train_size: int) -> int:
  """Full batches in an epoch; a batch is never larger than the data."""
  return train_size // min(batch_size, train_size)


def epochs_holding(epochs: int, min_steps: int, steps_per_epoch: int) -> int:
  """`epochs`, or more where an epoch is so short that `epochs` epochs hold
  fewer than `min_steps` steps (the plateau patience, the stage cap, the
  alpha probe).

  The published rule counts epochs whatever they hold; with 30 labels per
  class an epoch is 2 steps, and a network that the one-shot jump to 1%
  left at chance has its stage ended before it can recover.
  `min_steps=0` keeps the epochs.
  """
  if min_steps <= 0:
    return epochs
  return max(epochs, -(-min_steps // max(1, steps_per_epoch)))


@dataclasses.dataclass(frozen=True)
class Progress:
  """Where a staged run is; what its checkpoint's metadata holds."""
  stage: int = 0
  epoch: int = 0  # epochs trained in this stage
  step: int = 0  # epochs trained in all stages (the checkpoint step)
  stage_best_val: float = -1.0
  best_val: float = -1.0
  best_stage: int = 0
  best_step: int = 0  # the best epoch, counted over all stages from 1
  done: bool = False
  # The best accuracy on a monitored split (test data) over every epoch:
  # the paper's test-selected figure, reported apart, never selecting.
  best_monitored: float = -1.0

  def as_meta(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_meta(cls, meta: dict) -> "Progress":
    return cls(**meta)


@dataclasses.dataclass(frozen=True)
class StageRule:
  num_stages: int
  min_learning_rate: float = 1e-6
  max_epochs_per_stage: int = 100

  def __post_init__(self):
    if self.num_stages < 1:
      raise ValueError(f"num_stages must be >= 1, got {self.num_stages}")

  def next_action(self, progress: Progress,
                  plateau_state: plateau.PlateauState) -> str:
    """TRAIN another epoch, start the NEXT_STAGE, or the run is DONE."""
    if not bool(plateau.reached_optimum(plateau_state, self.min_learning_rate,
                                        self.max_epochs_per_stage)):
      return TRAIN
    return DONE if progress.stage + 1 == self.num_stages else NEXT_STAGE


def next_stage(progress: Progress) -> Progress:
  return dataclasses.replace(progress, stage=progress.stage + 1, epoch=0,
                             stage_best_val=-1.0)


def finished(progress: Progress) -> Progress:
  return dataclasses.replace(progress, done=True)


def after_epoch(progress: Progress, val_accuracy: float,
                eligible: bool = True) -> tuple[Progress, bool, bool]:
  """(progress, best of its stage so far, best of the run so far).

  Ties keep the earlier epoch: only a strictly higher accuracy replaces.
  An epoch that is not `eligible` (e.g. still denser than the budget)
  replaces nothing.
  """
  if not eligible:
    return dataclasses.replace(progress, epoch=progress.epoch + 1,
                               step=progress.step + 1), False, False
  stage_best = val_accuracy > progress.stage_best_val
  run_best = val_accuracy > progress.best_val
  progress = dataclasses.replace(
      progress, epoch=progress.epoch + 1, step=progress.step + 1,
      stage_best_val=max(val_accuracy, progress.stage_best_val),
      best_val=max(val_accuracy, progress.best_val),
      best_stage=progress.stage if run_best else progress.best_stage,
      best_step=progress.step + 1 if run_best else progress.best_step)
  return progress, stage_best, run_best


def monitored(progress: Progress, accuracy: float) -> Progress:
  return dataclasses.replace(progress, best_monitored=max(
      accuracy, progress.best_monitored))
