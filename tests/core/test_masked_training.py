import chex
import jax
import numpy as np

import coprune_jax as cj
from coprune_jax.pruners import _dns as dns
from coprune_jax.core import masked_training
from tests.trees import linen_params
from tests.trees import class_batch, linen_apply


def test_fixed_mask_retraining_freezes_pruned_weights_and_learns():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.5)
  masks = cj.magnitude_masks(params, ratios)  # LWC: one-shot by magnitude
  expected_masks = jax.device_get(masks)
  state = masked_training.init_masked_state(params, masks, learning_rate=1e-2)
  step = masked_training.make_masked_step(cj.pruners.fixed(), linen_apply)
  losses = []
  for _ in range(25):
    state, metrics = step(state, class_batch(0))
    losses.append(float(metrics["loss"]))
  assert losses[-1] < 0.8 * losses[0]
  chex.assert_trees_all_equal(state.masks, expected_masks)
  pruned = ~np.asarray(expected_masks["fc"]["kernel"])
  np.testing.assert_array_equal(
      np.asarray(state.params["fc"]["kernel"])[pruned],
      np.asarray(params["fc"]["kernel"])[pruned])


def test_dynamic_mask_update_runs_inside_the_step():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.3)
  masks = cj.masks.all_ones_masks(params, ratios)
  state = masked_training.init_masked_state(params, masks, learning_rate=1e-2)
  step = masked_training.make_masked_step(
      cj.pruners.dns(ratios, hysteresis=0.0), linen_apply)
  for _ in range(3):
    state, _ = step(state, class_batch(0))
  # With no hysteresis band the thresholds meet at the k-th largest
  # magnitude t: above it kept, below it cut, at it the state is kept.
  for layer in ("conv1", "fc"):
    weight = state.params[layer]["kernel"]
    low, _ = dns.layer_thresholds(weight, 0.3, hysteresis=0.0)
    mask, magnitude = np.asarray(state.masks[layer]["kernel"]), np.abs(weight)
    assert (mask[magnitude > low]).all() and not mask[magnitude < low].any()
