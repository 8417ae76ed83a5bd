import chex
import jax
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.train import protocol
from coprune_jax.train import trainers
from tests.trees import linen_params
from tests.trees import linen_apply


def trainer(initial_masks, target_train=None, **kwargs):
  source = linen_params()
  target = jax.tree.map(lambda w: w + 0.1 * np.cos(np.arange(w.size)).reshape(
      w.shape), source)
  ratios = cj.keep_ratio_tree(source, 0.3)
  return (trainers.CoPruneTrainer(
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
  # 2 epochs of 2 steps: the schedule reaches the keep ratios at step 4.
  t, *_ = trainer("pruned", gradual_epochs=2, target_train=[0] * 8)
  state = t.init_state()
  assert all(bool(m.all()) for m in jax.tree.leaves(state.target_masks))


def test_unknown_initial_masks_are_refused():
  with pytest.raises(ValueError, match="initial_masks"):
    trainer("random")
