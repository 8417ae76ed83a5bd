import chex
import jax
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax import models
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import protocol
from coprune_jax.train import trainers
from tests.trees import features
from tests.trees import linen_params
from tests.trees import linen_apply


def coprune_trainer(train_apply, ratios, schedule, source, target,
                    gradual_steps=0, **kwargs):
  """Co-Prune's trainer with the published pruners (`gradual_steps`: both
  reach the budget gradually)."""
  source_pruner = cj.pruners.magnitude(ratios)
  if gradual_steps:
    source_pruner = cj.pruners.gradual_magnitude(
        ratios, begin_step=0, end_step=gradual_steps, update_every=1,
        gradient="straight_through", fixed_from_end=False)
  target_pruner = cj.pruners.cooperative(ratios, gradual_steps=gradual_steps)
  return trainers.CoPruneTrainer(
      train_apply, schedule, source, target, source_pruner=source_pruner,
      target_pruner=target_pruner, **kwargs)


def trainer(initial_masks, target_train=None, **kwargs):
  source = linen_params()
  target = jax.tree.map(lambda w: w + 0.1 * np.cos(np.arange(w.size)).reshape(
      w.shape), source)
  ratios = cj.keep_ratio_tree(source, 0.3)
  return (coprune_trainer(
      linen_apply, ratios, cj.alpha_schedule([0.7, 0.3]), (source, {}),
      (target, {}), source_train=None, target_train=target_train,
      batch_size=4, initial_masks=initial_masks, **kwargs), source, target,
      ratios)


def test_the_default_start_is_pruned_as_in_the_reference_code():
  assert trainers.CoPruneTrainer.initial_masks == "pruned"
  assert protocol.prune_config(0.1)["initial_masks"] == "pruned"


def test_ones_start_has_all_ones_masks():
  t, *_ = trainer("ones")
  state = t.init_state()
  assert all(bool(m.all()) for m in jax.tree.leaves(state.target_masks))


def test_pruned_start_has_the_first_stage_cooperative_masks():
  t, source, target, ratios = trainer("pruned")
  state = t.init_state()
  expected = cj.cooperative_masks(source, target, 0.7, ratios)
  chex.assert_trees_all_equal((state.source_masks, state.target_masks),
                              expected)


def test_gradual_pruning_starts_dense_whatever_the_initial_masks():
  # The schedule reaches the keep ratios at step 4.
  t, *_ = trainer("pruned", gradual_steps=4, target_train=[0] * 8)
  state = t.init_state()
  assert all(bool(m.all()) for m in jax.tree.leaves(state.target_masks))


def test_unknown_initial_masks_are_refused():
  with pytest.raises(ValueError, match="initial_masks"):
    trainer("random")


def test_the_plateau_watches_only_epochs_at_the_keep_ratios():
  # 2 epochs of 2 steps: the ramp ends at step 4, so epoch 1 is denser.
  t, *_ = trainer("pruned", gradual_steps=4, target_train=[0] * 8)
  state = t.init_state()
  step_count = lambda n: state.target.opt_state._replace(
      count=np.int32(n))
  ramping = state._replace(target=state.target._replace(
      opt_state=step_count(2)))
  at_ratios = state._replace(target=state.target._replace(
      opt_state=step_count(4)))
  means = {"source_loss": 0.01, "target_loss": 0.01}
  unchanged = t.end_epoch(ramping, means, patience=3, factor=0.1)
  assert float(t.plateau(unchanged).best_loss) == np.inf
  fed = t.end_epoch(at_ratios, means, patience=3, factor=0.1)
  assert float(t.plateau(fed).best_loss) == np.float32(0.01)
  assert int(t.plateau(fed).epoch) == 1


def test_source_steps_train_the_source_that_many_times_a_target_step():
  classifier = Classifier(models.make_model("mlp", 3, hidden=(16,)))
  source, target = classifier.init(0, (6,)), classifier.init(1, (6,))
  t = coprune_trainer(
      classifier.train_apply, cj.keep_ratio_tree(source[0], 0.2),
      cj.alpha_schedule([0.5]), source, target, source_train=features(3, 40),
      target_train=features(4, 24), batch_size=8, source_steps=3)
  state, means = t.train_epoch(t.init_state(), np.random.default_rng(0))
  assert int(state.target.opt_state.count) == 3  # 24 examples, batch 8
  assert int(state.source.opt_state.count) == 9
  assert np.isfinite(means["source_loss"])


def test_the_step_compiles_once_across_epochs_and_stages():
  # Weights restored from a checkpoint are committed to a device, a fresh
  # state's scalars (optimizer counts, plateau, alpha) are not: unless the
  # trainer commits them, jit compiles the step again on its second call
  # (its outputs are all committed) and at each stage.
  classifier = Classifier(models.make_model("mlp", 3, hidden=(16,)))
  source, target = (jax.device_put(classifier.init(seed, (6,)),
                                   jax.devices()[0]) for seed in (0, 1))
  ratios = cj.keep_ratio_tree(source[0], 0.2)
  rng = np.random.default_rng(0)
  cooperative = coprune_trainer(
      classifier.train_apply, ratios, cj.alpha_schedule([0.7, 0.3]), source,
      target, source_train=features(3, 40), target_train=features(4, 24),
      batch_size=8)
  state, _ = cooperative.train_epoch(cooperative.init_state(), rng)
  state, _ = cooperative.train_epoch(cooperative.begin_stage(state, 1), rng)
  assert cooperative.step._cache_size() == 1
  masked = trainers.MaskedTrainer(
      classifier.train_apply, target, state.target_masks, features(4, 24),
      batch_size=8, num_stages=2)
  state, _ = masked.train_epoch(masked.init_state(), rng)
  state, _ = masked.train_epoch(masked.begin_stage(state, 1), rng)
  assert masked.step._cache_size() == 1
  dense = trainers.DenseTrainer(classifier.train_apply, target,
                                features(4, 24), batch_size=8,
                                learning_rate=1e-3)
  for trainer in (cooperative, masked, dense):  # what train_phase calls
    assert isinstance(trainer, trainers.Trainer), type(trainer).__name__
