import chex
import jax
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.train import trainers
from tests.trees import linen_params
from tests.trees import linen_apply


def trainer(initial_masks):
  source = linen_params()
  target = jax.tree.map(lambda w: w + 0.1 * np.cos(np.arange(w.size)).reshape(
      w.shape), source)
  ratios = cj.keep_ratio_tree(source, 0.3)
  return trainers.CoPruneTrainer(
      linen_apply, ratios, cj.alpha_schedule([0.7, 0.3]), (source, {}),
      (target, {}), source_train=None, target_train=None, batch_size=4,
      initial_masks=initial_masks), source, target, ratios


def test_reference_start_has_all_ones_masks():
  t, *_ = trainer("ones")
  state = t.init_state()
  assert all(bool(m.all()) for m in jax.tree.leaves(state.target_masks))


def test_pruned_start_has_the_first_stage_cooperative_masks():
  t, source, target, ratios = trainer("pruned")
  state = t.init_state()
  expected = cj.cooperative_masks(source, target, 0.7, ratios)
  chex.assert_trees_all_equal((state.source_masks, state.target_masks),
                              expected)


def test_unknown_initial_masks_are_refused():
  with pytest.raises(ValueError, match="initial_masks"):
    trainer("random")
