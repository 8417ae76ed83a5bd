"""The stage rule on its own: what comes after each epoch, which is kept."""

import types

import pytest

import coprune_jax as cj
from coprune_jax.train import run
from coprune_jax.train import stages


def plateau_after(losses, patience=3):
  state = cj.plateau.plateau_init(1e-3)
  for loss in losses:
    state = cj.plateau.plateau_update(state, loss, patience)
  return state


def test_a_stage_ends_at_its_optimum_and_the_run_after_its_last_stage():
  rule = stages.StageRule(num_stages=2)
  progress = stages.Progress()
  improving = plateau_after([3.0, 2.0, 1.0])
  assert rule.next_action(progress, improving) == stages.TRAIN
  # Four plateaus of three epochs take 1e-3 below 1e-6.
  flat = plateau_after([1.0] * 15)
  assert rule.next_action(progress, flat) == stages.NEXT_STAGE
  progress = stages.next_stage(progress)
  assert rule.next_action(progress, flat) == stages.DONE
  fresh = cj.plateau.plateau_init(1e-3)
  assert rule.next_action(progress, fresh) == stages.TRAIN


def test_the_epoch_cap_ends_a_stage_that_keeps_improving():
  rule = stages.StageRule(num_stages=1, max_epochs_per_stage=4)
  losses = [5.0, 4.0, 3.0, 2.0]
  assert rule.next_action(stages.Progress(),
                          plateau_after(losses[:3])) == stages.TRAIN
  assert rule.next_action(stages.Progress(),
                          plateau_after(losses)) == stages.DONE


def test_best_epochs_per_stage_and_over_the_run_ties_keep_the_first():
  progress = stages.Progress()
  seen = []
  for accuracy in (0.5, 0.7, 0.7, 0.6):
    progress, stage_best, run_best = stages.after_epoch(progress, accuracy)
    seen.append((stage_best, run_best))
  assert seen == [(True, True), (True, True), (False, False), (False, False)]
  assert (progress.epoch, progress.step, progress.best_stage) == (4, 4, 0)
  progress = stages.next_stage(progress)
  assert (progress.stage, progress.epoch, progress.stage_best_val) == (1, 0, -1.0)
  progress, stage_best, run_best = stages.after_epoch(progress, 0.65)
  assert (stage_best, run_best) == (True, False)
  progress, stage_best, run_best = stages.after_epoch(progress, 0.8)
  assert (stage_best, run_best) == (True, True)
  assert (progress.step, progress.best_stage, progress.best_val) == (6, 1, 0.8)


def test_progress_round_trips_through_checkpoint_metadata():
  progress = stages.finished(stages.after_epoch(stages.Progress(), 0.4)[0])
  assert stages.Progress.from_meta(progress.as_meta()) == progress
  with pytest.raises(ValueError, match="num_stages"):
    stages.StageRule(num_stages=0)


def test_epochs_off_budget_count_but_never_become_the_best():
  progress, stage_best, run_best = stages.after_epoch(stages.Progress(), 0.9,
                                                      eligible=False)
  assert (stage_best, run_best) == (False, False)
  assert (progress.epoch, progress.step, progress.best_val) == (1, 1, -1.0)
  progress, stage_best, run_best = stages.after_epoch(progress, 0.5)
  assert (stage_best, run_best, progress.best_val) == (True, True, 0.5)


@pytest.mark.parametrize("patience_steps, steps_per_epoch, expected", [
    (0, 2, 3),  # the published rule: epochs, whatever they hold
    (40, 2, 20),  # 30 labels per class: 2 steps an epoch
    (40, 7, 6),  # rounded up: 6 epochs hold 42 steps
    (40, 39, 3),  # long epochs: the published patience already holds more
    (40, 0, 40),  # fewer examples than a batch: one step an epoch
])
def test_patience_counts_at_least_the_steps_asked(patience_steps,
                                                  steps_per_epoch, expected):
  assert stages.epochs_holding(3, patience_steps, steps_per_epoch) == expected


@pytest.mark.parametrize("train_size, expected", [
    (300, (20, 500)),  # batch 128: 2 steps an epoch
    (50, (40, 1000)),  # fewer examples than a batch: one step an epoch
    (10_000, (3, 100)),  # 78 steps an epoch: the published rule
])
def test_stage_epochs_read_the_prune_section(train_size, expected):
  prune = types.SimpleNamespace(patience=3, patience_steps=40,
                                max_epochs_per_stage=100,
                                max_steps_per_stage=1000, batch_size=128)
  assert run.stage_epochs(prune, train_size) == expected
