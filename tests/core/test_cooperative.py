import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import coprune_jax as cj
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


def coprune_of(keep_ratio, apply_fn=linen_apply, learning_rate=1e-2,
               **kwargs):
  objective = losses.classification_objective(apply_fn)
  return cj.published_coprune(keep_ratio, objective, learning_rate, **kwargs)


def run_steps(params, apply_fn, num_steps=30, keep_ratio=0.5, alpha=0.5,
              **kwargs):
  ratios = cj.keep_ratio_tree(params, keep_ratio)
  source_params = params
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  coprune = coprune_of(keep_ratio, apply_fn, **kwargs)
  state = coprune.init(source_params, target_params, alpha)
  source_batch, target_batch = class_batch(0), class_batch(1, shift=0.5)
  history = []
  for _ in range(num_steps):
    state, metrics = coprune.step(state, source_batch, target_batch)
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
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  batches = [class_batch(seed) for seed in (0, 2)]
  target_batch = class_batch(1, shift=0.5)
  one = coprune_of(0.5)
  state = one.init(params, target_params, 0.5)
  for batch in batches:
    state, _ = one.step(state, batch, target_batch)
  # Two source batches stacked on a second axis: (batch, 2, ...).
  stacked = jax.tree.map(lambda *a: jnp.stack(a, axis=1), *batches)
  two = coprune_of(0.5, source_steps=2)
  state_two, metrics = two.step(two.init(params, target_params, 0.5),
                                stacked, target_batch)
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


def spelled_out_steps(source_tx, target_tx, source_params, target_params,
                      alpha, num_steps, source_steps=1):
  """Each domain's own `cj.pruned` update, written out by hand: what the
  cooperative step must equal, masks included. Returns (spelled-out
  (source, target), the cooperative step's state)."""
  objective = losses.classification_objective(linen_apply)
  coprune = cj.cooperative_pruning(source_tx, target_tx, objective,
                                   source_steps=source_steps)
  state = coprune.init(source_params, target_params, alpha)
  source_update, target_update = (
      domain_step.make_domain_update(objective, tx)
      for tx in (source_tx, target_tx))

  @jax.jit
  def spelled_out(source, target, source_batches, target_batch):
    for batch in source_batches:
      source, _ = source_update(source, batch)
    target, _ = target_update(target, target_batch,
                              partner_params=source.params, alpha=alpha)
    return source, target

  source = domain_step.init_domain_state(
      source_params, cj.masks_of(source_tx.init(source_params)), source_tx)
  target = domain_step.init_domain_state(
      target_params, cj.masks_of(target_tx.init(target_params)), target_tx)
  for i in range(num_steps):
    source_batches = [class_batch(10 * i + j) for j in range(source_steps)]
    target_batch = class_batch(i, shift=0.5)
    source, target = spelled_out(source, target, source_batches, target_batch)
    stacked = jax.tree.map(lambda *a: jnp.stack(a, axis=1), *source_batches)
    if source_steps == 1:
      stacked = source_batches[0]
    state, _ = coprune.step(state, stacked, target_batch)
  return (source, target), state


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_joint_masks_are_those_of_two_ordinary_domain_updates(scope):
  # Two top-k pruners at one budget: the step selects both domains' masks
  # together after both updates; they must be the pruners' own (two source
  # updates: the first of them still updates its own masks).
  params = linen_params()
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  adam = plateau.adam_with_plateau(1e-2)
  (source, target), state = spelled_out_steps(
      cj.pruned(adam, cj.pruners.magnitude(0.3, scope=scope)),
      cj.pruned(adam, cj.pruners.cooperative(0.3, 0.0, scope=scope)),
      params, target_params, alpha=0.4, num_steps=3, source_steps=2)
  chex.assert_trees_all_equal((state.source_masks, state.target_masks),
                              (source.masks, target.masks))
  chex.assert_trees_all_close((state.source_params, state.target_params),
                              (source.params, target.params), atol=1e-6)


@pytest.mark.parametrize("source_pruner,target_pruner", [
    # Budgets that differ: no joint selection at one budget.
    (cj.pruners.magnitude(0.3), cj.pruners.cooperative(0.6, 0.0)),
    # Any pruner may drive either domain.
    (cj.pruners.rigl(0.3, end_step=10, update_every=2),
     cj.pruners.cooperative(0.3, 0.0)),
    (cj.pruners.magnitude(0.3),
     cj.pruners.gradual_magnitude(0.3, begin_step=0, end_step=4,
                                  update_every=1)),
])
def test_any_pruners_give_their_own_masks_in_the_step(source_pruner,
                                                      target_pruner):
  params = linen_params()
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  adam = plateau.adam_with_plateau(1e-2)
  (source, target), state = spelled_out_steps(
      cj.pruned(adam, source_pruner), cj.pruned(adam, target_pruner),
      params, target_params, alpha=0.5, num_steps=5)
  chex.assert_trees_all_equal((state.source_masks, state.target_masks),
                              (source.masks, target.masks))
  chex.assert_trees_all_close((state.source_params, state.target_params),
                              (source.params, target.params), atol=1e-6)
  sizes = dict(tree_paths.named_leaves(params))
  for pruner, masks in ((source_pruner, state.source_masks),
                        (target_pruner, state.target_masks)):
    ratios = dict(tree_paths.named_leaves(pruner.keep_ratio_tree(params)))
    for name, kept in cj.kept_counts(masks).items():
      assert kept == cj.kept_count(sizes[name].size, ratios[name]), name


def test_first_masks_are_each_pruners_masks_of_the_start():
  params = linen_params()
  target_params = jax.tree.map(lambda w: w * 1.1 + 0.01, params)
  ratios = cj.keep_ratio_tree(params, 0.3)
  source_masks, target_masks = coprune_of(0.3).first_masks(
      params, target_params, 0.7)
  chex.assert_trees_all_equal(
      (source_masks, target_masks),
      cj.cooperative_masks(params, target_params, 0.7, ratios))


def test_unpruned_parameters_have_no_mask_but_still_train():
  params = linen_params()
  state, _, _ = run_steps(params, linen_apply, num_steps=2)
  assert state.target_masks["conv1"]["bias"] is None
  assert not np.allclose(state.source_params["conv1"]["bias"],
                         params["conv1"]["bias"])


def test_fixed_masks_without_straight_through_freeze_pruned_weights():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.4)
  masks = cj.cooperative_masks(params, params, 0.5, ratios)
  fixed = cj.pruned(plateau.adam_with_plateau(), cj.pruners.fixed())
  coprune = cj.cooperative_pruning(
      fixed, fixed, losses.classification_objective(linen_apply))
  state = coprune.init(params, params, 0.5, masks=masks)
  target_masks = jax.device_get(masks[1])  # the step donates the state
  kernel_before = np.asarray(params["fc"]["kernel"])
  for _ in range(3):
    state, _ = coprune.step(state, class_batch(0), class_batch(1))
  chex.assert_trees_all_equal(state.target_masks, target_masks)
  pruned = ~np.asarray(target_masks["fc"]["kernel"])
  kernel_after = np.asarray(state.target_params["fc"]["kernel"])
  np.testing.assert_array_equal(kernel_after[pruned], kernel_before[pruned])
  assert not np.allclose(kernel_after[~pruned], kernel_before[~pruned])


def test_model_state_is_threaded_through():
  params = linen_params()

  def counting_apply(p, model_state, inputs):
    return linen_apply(p, inputs), {"calls": model_state["calls"] + 1}

  coprune = cj.published_coprune(0.5, losses.classification_objective(
      counting_apply, has_model_state=True))
  state = coprune.init(params, params,
                       source_model_state={"calls": jnp.zeros(())},
                       target_model_state={"calls": jnp.ones(())})
  for _ in range(2):
    state, _ = coprune.step(state, class_batch(0), class_batch(1))
  assert float(state.source_model_state["calls"]) == 2
  assert float(state.target_model_state["calls"]) == 3


def test_epoch_and_stage_bookkeeping():
  params = linen_params()
  coprune = coprune_of(0.5, learning_rate=1e-3)
  state = coprune.init(params, params, alpha=0.7)
  state, _ = coprune.step(state, class_batch(0), class_batch(1))
  masks = jax.device_get(state.target_masks)
  for _ in range(13):
    state = coprune.end_epoch(state, source_loss=1.0, target_loss=1.0)
  assert coprune.stage_finished(state)
  state = coprune.begin_stage(state, alpha=0.5)
  assert int(state.stage) == 1 and np.isclose(float(state.alpha), 0.5)
  assert not coprune.stage_finished(state)
  assert np.isclose(float(state.target_plateau.learning_rate), 1e-3)
  adam_state = state.target.opt_state.inner_state[0]
  assert int(adam_state.count) == 0
  # Masks and the pruner's update count carry over into the new stage.
  chex.assert_trees_all_equal(state.target_masks, masks)
  assert int(state.target.opt_state.count) == 1


def test_bad_inputs():
  objective = losses.classification_objective(linen_apply)
  magnitude = cj.pruned(plateau.adam_with_plateau(),
                        cj.pruners.magnitude(0.5))
  with pytest.raises(ValueError, match="source_steps"):
    cj.cooperative_pruning(magnitude, magnitude, objective, source_steps=0)
  with pytest.raises(TypeError, match="target_tx must be a cj.pruned"):
    cj.cooperative_pruning(magnitude, plateau.adam_with_plateau(), objective)
  coprune = coprune_of(0.5)
  params = linen_params()
  other = dict(params, fc={"kernel": jnp.zeros((4, 7)),
                           "bias": params["fc"]["bias"]})
  with pytest.raises(ValueError, match="'fc/kernel' has shape"):
    coprune.init(params, other)
  with pytest.raises(ValueError, match="alpha must be in"):
    coprune.init(params, params, alpha=1.2)
  with pytest.raises(ValueError, match="alpha must be in"):
    coprune.begin_stage(coprune.init(params, params), alpha=-1)
