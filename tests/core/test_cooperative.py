import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import coprune_jax as cj
from coprune_jax.core import cooperative
from coprune_jax.core import domain_step
from coprune_jax.core import losses
from coprune_jax.core import plateau
from coprune_jax.core import tree_paths
from tests.trees import (TinyNnx, class_batch, dict_params, linen_apply,
                         linen_params)


def dict_apply(params, inputs):
  x = jax.lax.conv_general_dilated(
      inputs, params["conv1"]["kernel"], (1, 1), "SAME",
      dimension_numbers=("NHWC", "HWIO", "NHWC")) + params["conv1"]["bias"]
  x = jax.nn.relu(x)
  mean = x.mean(-1, keepdims=True)
  x = (x - mean) / jnp.sqrt(x.var(-1, keepdims=True) + 1e-6)
  x = x * params["norm"]["scale"] + params["norm"]["bias"]
  kernel, bias = params["fc"]
  return x.mean(axis=(1, 2)) @ kernel + bias


NNX_GRAPHDEF = nnx.graphdef(TinyNnx(nnx.Rngs(0)))


def nnx_apply(state, inputs):
  return nnx.merge(NNX_GRAPHDEF, state)(inputs)


def nnx_params():
  return nnx.state(TinyNnx(nnx.Rngs(0)), nnx.Param)


def run_steps(params, apply_fn, num_steps=30, keep_ratio=0.5, alpha=0.5,
              **step_kwargs):
  ratios = cj.keep_ratio_tree(params, keep_ratio)
  source_params = params
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  state = cj.init_coprune_state(source_params, target_params, ratios, alpha,
                                learning_rate=1e-2)
  step = cj.make_cooperative_step(apply_fn, ratios, **step_kwargs)
  source_batch, target_batch = class_batch(0), class_batch(1, shift=0.5)
  history = []
  for _ in range(num_steps):
    state, metrics = step(state, source_batch, target_batch)
    history.append(jax.device_get(metrics))
  return state, ratios, history


@pytest.mark.parametrize("layout", ["linen", "nnx", "dict"])
def test_steps_lower_both_losses_and_keep_exact_counts(layout):
  params, apply_fn = {"linen": (linen_params(), linen_apply),
                      "nnx": (nnx_params(), nnx_apply),
                      "dict": (dict_params(), dict_apply)}[layout]
  state, ratios, history = run_steps(params, apply_fn)
  for domain in ("source", "target"):
    first, last = history[0][f"{domain}_loss"], history[-1][f"{domain}_loss"]
    assert last < 0.8 * first, (domain, first, last)
  named_params = dict(tree_paths.named_leaves(state.target_params))
  for masks in (state.source_masks, state.target_masks):
    counts = cj.kept_counts(masks)
    for name, keep_ratio in tree_paths.named_leaves(ratios):
      assert counts[name] == cj.kept_count(named_params[name].size, keep_ratio)
  assert int(state.target.opt_state.count) == len(history)


def test_source_steps_are_that_many_source_updates_in_one_step():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.5)
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  start = lambda: cj.init_coprune_state(params, target_params, ratios, 0.5,
                                        learning_rate=1e-2)
  batches = [class_batch(seed) for seed in (0, 2)]
  target_batch = class_batch(1, shift=0.5)
  one = cj.make_cooperative_step(linen_apply, ratios)
  state = start()
  for batch in batches:
    state, _ = one(state, batch, target_batch)
  # Two source batches stacked on a second axis: (batch, 2, ...).
  stacked = jax.tree.map(lambda *a: jnp.stack(a, axis=1), *batches)
  two = cj.make_cooperative_step(linen_apply, ratios, source_steps=2)
  state_two, metrics = two(start(), stacked, target_batch)
  chex.assert_trees_all_close(state_two.source, state.source, atol=1e-6)
  assert int(state_two.source.opt_state.count) == 2
  assert int(state_two.target.opt_state.count) == 1
  assert metrics["source_loss"].shape == ()


def test_masks_in_state_are_the_cooperative_masks_of_its_params():
  state, ratios, _ = run_steps(linen_params(), linen_apply, num_steps=3,
                               alpha=0.3, fusion="magnitude")
  expected = cj.cooperative_masks(state.source_params, state.target_params,
                                  0.3, ratios, fusion="magnitude")
  chex.assert_trees_all_equal((state.source_masks, state.target_masks),
                              expected)


def test_joint_masks_are_those_of_two_ordinary_domain_updates():
  # The step selects both domains' masks together after both updates; the
  # same step spelled out as the two domains' own pruned updates must agree
  # (two source updates: the first of them still updates its own masks).
  source_steps = 2
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.3)
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  state = cj.init_coprune_state(params, target_params, ratios, 0.4,
                                learning_rate=1e-2)
  source_pruner, target_pruner = cooperative.coprune_pruners(ratios)
  objective = losses.classification_objective(
      linen_apply, losses.cross_entropy_loss, has_model_state=False)
  source_update, target_update = (
      domain_step.make_domain_update(
          objective, cj.pruned(plateau.adam_with_plateau(), pruner))
      for pruner in (source_pruner, target_pruner))

  @jax.jit
  def spelled_out(source, target, source_batches, target_batch):
    for batch in source_batches:
      source, _ = source_update(source, batch)
    target, _ = target_update(target, target_batch,
                              partner_params=source.params, alpha=0.4)
    return source, target

  step = cj.make_cooperative_step(linen_apply, ratios,
                                  source_steps=source_steps)
  source, target = state.source, state.target
  for i in range(3):
    source_batches = [class_batch(10 * i + j) for j in range(source_steps)]
    target_batch = class_batch(i, shift=0.5)
    source, target = spelled_out(source, target, source_batches, target_batch)
    stacked = jax.tree.map(lambda *a: jnp.stack(a, axis=1), *source_batches)
    state, _ = step(state, stacked, target_batch)
  chex.assert_trees_all_equal((state.source_masks, state.target_masks),
                              (source.masks, target.masks))
  chex.assert_trees_all_close((state.source_params, state.target_params),
                              (source.params, target.params), atol=1e-6)


def test_unpruned_parameters_have_no_mask_but_still_train():
  params = linen_params()
  state, _, _ = run_steps(params, linen_apply, num_steps=2)
  assert state.target_masks["conv1"]["bias"] is None
  assert not np.allclose(state.source_params["conv1"]["bias"],
                         params["conv1"]["bias"])


def test_fixed_masks_without_straight_through_freeze_pruned_weights():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.4)
  source_masks, target_masks = cj.cooperative_masks(params, params, 0.5, ratios)
  state = cj.init_coprune_state(params, params, ratios, 0.5,
                                masks=(source_masks, target_masks))
  target_masks = jax.device_get(target_masks)  # the step donates the state
  step = cj.make_cooperative_step(linen_apply, ratios, update_masks=False,
                                  straight_through_gradient=False)
  kernel_before = np.asarray(params["fc"]["kernel"])
  for _ in range(3):
    state, _ = step(state, class_batch(0), class_batch(1))
  chex.assert_trees_all_equal(state.target_masks, target_masks)
  pruned = ~np.asarray(target_masks["fc"]["kernel"])
  kernel_after = np.asarray(state.target_params["fc"]["kernel"])
  np.testing.assert_array_equal(kernel_after[pruned], kernel_before[pruned])
  assert not np.allclose(kernel_after[~pruned], kernel_before[~pruned])


def test_model_state_is_threaded_through():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.5)

  def counting_apply(p, model_state, inputs):
    return linen_apply(p, inputs), {"calls": model_state["calls"] + 1}

  state = cj.init_coprune_state(params, params, ratios,
                                source_model_state={"calls": jnp.zeros(())},
                                target_model_state={"calls": jnp.ones(())})
  step = cj.make_cooperative_step(counting_apply, ratios, has_model_state=True)
  for _ in range(2):
    state, _ = step(state, class_batch(0), class_batch(1))
  assert float(state.source_model_state["calls"]) == 2
  assert float(state.target_model_state["calls"]) == 3


def test_epoch_and_stage_bookkeeping():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.5)
  state = cj.init_coprune_state(params, params, ratios, alpha=0.7)
  for _ in range(13):
    state = cj.end_epoch(state, source_loss=1.0, target_loss=1.0)
  assert cj.stage_finished(state)
  state = cj.begin_stage(state, alpha=0.5)
  assert int(state.stage) == 1 and np.isclose(float(state.alpha), 0.5)
  assert not cj.stage_finished(state)
  assert np.isclose(float(state.target_plateau.learning_rate), 1e-3)
  adam_state = state.target.opt_state.inner_state[0]
  assert int(adam_state.count) == 0


def test_bad_inputs():
  with pytest.raises(ValueError, match="source_steps"):
    cj.make_cooperative_step(linen_apply, {}, source_steps=0)
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.5)
  other = dict(params, fc={"kernel": jnp.zeros((4, 7)),
                           "bias": params["fc"]["bias"]})
  with pytest.raises(ValueError, match="'fc/kernel' has shape"):
    cj.init_coprune_state(params, other, ratios)
  with pytest.raises(ValueError, match="alpha must be in"):
    cj.init_coprune_state(params, params, ratios, alpha=1.2)
  with pytest.raises(ValueError, match="alpha must be in"):
    cj.begin_stage(cj.init_coprune_state(params, params, ratios), alpha=-1)
  with pytest.raises(ValueError, match="keep-ratio tree"):
    cj.init_coprune_state(params, params, {"conv1": ratios["conv1"]})
