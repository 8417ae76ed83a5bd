import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import coprune_jax as cj
from tests.trees import dict_params


def loss(params):
  """Any smooth function of every leaf."""
  return sum(jnp.sum(jnp.sin(3.0 * w) * w) for w in jax.tree.leaves(params))


def step(tx, params, state, **extra_args):
  masked = lambda p: cj.apply_masks(p, cj.masks_of(state))
  grads = jax.grad(lambda p: loss(masked(p)))(params)
  updates, state = tx.update(grads, state, params, **extra_args)
  return optax.apply_updates(params, updates), state


def test_magnitude_masks_follow_the_updated_params_of_any_tree(any_params):
  tx = cj.pruned(optax.sgd(0.05, momentum=0.9), cj.pruners.magnitude(0.25))
  state = tx.init(any_params)
  keep_ratios = cj.keep_ratio_tree(any_params, 0.25)
  chex.assert_trees_all_equal(cj.masks_of(state),
                              cj.masks.all_ones_masks(any_params, keep_ratios))
  params = any_params
  for _ in range(3):
    params, state = jax.jit(lambda p, s: step(tx, p, s))(params, state)
    masks = cj.masks_of(state)
    chex.assert_trees_all_equal(masks,
                                cj.magnitude_masks(params, keep_ratios))
  assert cj.kept_counts(masks) == {
      name: cj.kept_count(w.size, 0.25)
      for name, w in cj.tree_paths.named_leaves(params) if w.ndim >= 2}


def test_composes_inside_a_chain_with_a_schedule_and_clipping():
  params = dict_params()
  schedule = optax.cosine_decay_schedule(1e-2, decay_steps=10)
  tx = optax.chain(optax.clip_by_global_norm(1.0),
                   cj.pruned(optax.adamw(schedule, weight_decay=1e-2),
                             cj.pruners.magnitude([("conv1/kernel", 0.5)])))
  state = tx.init(params)
  for _ in range(2):
    params, state = jax.jit(lambda p, s: step(tx, p, s))(params, state)
  masks = cj.masks_of(state)
  assert masks["fc"] == [None, None] and masks["conv1"]["bias"] is None
  assert int(masks["conv1"]["kernel"].sum()) == cj.kept_count(72, 0.5)


def planted_ties(key, shape):
  """Weights on a coarse grid, so that many magnitudes tie."""
  return jnp.round(jax.random.normal(key, shape) * 2) / 2


def test_cooperative_alpha_0_and_1_are_the_magnitude_masks_of_each_model():
  keys = jax.random.split(jax.random.key(1), 4)
  target = {"a": planted_ties(keys[0], (16, 8)),
            "b": planted_ties(keys[1], (3, 3, 4, 6))}
  source = {"a": planted_ties(keys[2], (16, 8)),
            "b": planted_ties(keys[3], (3, 3, 4, 6))}
  keep_ratios = cj.keep_ratio_tree(target, 0.3)
  # One SGD step at learning rate 0: the params stay, the masks are computed.
  zero_grads = jax.tree.map(jnp.zeros_like, target)
  for alpha, owner in ((0.0, target), (1.0, source)):
    tx = cj.pruned(optax.sgd(0.0), cj.pruners.cooperative(0.3, alpha=alpha))
    _, state = tx.update(zero_grads, tx.init(target), target,
                         partner_params=source)
    chex.assert_trees_all_equal(cj.masks_of(state),
                                cj.magnitude_masks(owner, keep_ratios))


def test_cooperative_masks_are_those_of_cooperative_masks_at_any_alpha():
  keys = jax.random.split(jax.random.key(2), 2)
  target = {"a": jax.random.normal(keys[0], (32, 8))}
  source = {"a": jax.random.normal(keys[1], (32, 8))}
  keep_ratios = cj.keep_ratio_tree(target, 0.2)
  grads = jax.tree.map(jnp.zeros_like, target)
  tx = cj.pruned(optax.sgd(0.0),
                 cj.pruners.cooperative(0.2, alpha=lambda count: 0.9,
                                        fusion="magnitude"))
  update = jax.jit(lambda s, alpha: tx.update(grads, s, target,
                                              partner_params=source,
                                              alpha=alpha))
  for alpha in (0.3, 0.7):  # a traced override of the schedule
    _, state = update(tx.init(target), alpha)
    expected = cj.cooperative_masks(source, target, alpha, keep_ratios,
                                    "magnitude")[1]
    chex.assert_trees_all_equal(cj.masks_of(state), expected)


def cooperative_update(pruner, target, source, masks=None):
  """The masks one update (learning rate 0: params unchanged) computes."""
  tx = cj.pruned(optax.sgd(0.0), pruner)
  state = (tx.init(target) if masks is None
           else cj.init_with_masks(optax.sgd(0.0), target, masks))
  _, state = tx.update(jax.tree.map(jnp.zeros_like, target), state, target,
                       partner_params=source)
  return cj.masks_of(state)


def test_scale_matched_fusion_ignores_each_models_scale():
  keys = jax.random.split(jax.random.key(4), 2)
  target = {"a": jax.random.normal(keys[0], (32, 16))}
  source = {"a": jax.random.normal(keys[1], (32, 16))}
  # A power of two: scaling is exact, so matching must undo it bit for bit;
  # and so large that, unmatched, the target's share cannot reorder the
  # source's magnitudes (at 100x it did for another JAX's random draws).
  big_source = jax.tree.map(lambda w: 2.0**20 * w, source)
  matched = lambda s: cooperative_update(
      cj.pruners.cooperative(0.1, 0.5, "signed_matched"), target, s)
  plain = lambda s: cooperative_update(
      cj.pruners.cooperative(0.1, 0.5, "signed"), target, s)
  chex.assert_trees_all_equal(matched(big_source), matched(source))
  # Unmatched, the source's scale decides: its own magnitude masks.
  chex.assert_trees_all_equal(
      plain(big_source),
      cj.magnitude_masks(source, cj.keep_ratio_tree(source, 0.1)))
  assert not np.array_equal(plain(source)["a"], plain(big_source)["a"])


def test_hysteresis_keeps_counts_and_flips_fewer_weights():
  keys = jax.random.split(jax.random.key(5), 3)
  source = {"a": jax.random.normal(keys[0], (64, 32))}
  target = {"a": jax.random.normal(keys[1], (64, 32))}
  count = cj.kept_count(64 * 32, 0.1)
  flips = {}
  for hysteresis in (0.0, 0.2):
    pruner = cj.pruners.cooperative(0.1, 0.5, hysteresis=hysteresis)
    masks, total = cooperative_update(pruner, target, source), 0
    for step_index in range(5):  # small moves of the target's weights
      moved = jax.tree.map(lambda w: w + 0.05 * jax.random.normal(
          jax.random.fold_in(keys[2], step_index), w.shape), target)
      new = cooperative_update(pruner, moved, source, masks)
      assert int(new["a"].sum()) == count
      total += int(jnp.sum(new["a"] != masks["a"]))
      masks, target = new, moved
    flips[hysteresis] = total
  assert flips[0.2] < 0.5 * flips[0.0], flips


def test_gradual_cooperative_masks_follow_the_cubic_schedule():
  keys = jax.random.split(jax.random.key(6), 2)
  target = {"a": jax.random.normal(keys[0], (40, 25))}
  source = {"a": jax.random.normal(keys[1], (40, 25))}
  tx = cj.pruned(optax.sgd(0.0),
                 cj.pruners.cooperative(0.05, 0.5, gradual_steps=8))
  state = tx.init(target)
  zeros = jax.tree.map(jnp.zeros_like, target)
  for count in range(1, 11):
    _, state = tx.update(zeros, state, target, partner_params=source)
    expected = (cj.kept_count(1000, 0.05) if count >= 8 else int(np.floor(
        1000 * float(cj.pruners.gradual_keep_ratio(count, 0.05, 0, 8))
        + 0.5)))
    assert int(cj.masks_of(state)["a"].sum()) == expected, count
  with pytest.raises(ValueError, match="do not combine"):
    cj.pruners.cooperative(0.05, 0.5, hysteresis=0.1, gradual_steps=8)


def test_masked_gradient_freezes_pruned_weights_under_weight_decay():
  params = {"w": jax.random.normal(jax.random.key(3), (20, 10))}
  pruner = cj.pruners.magnitude(0.1, initial="pruned", update_every=0,
                                gradient="masked")
  tx = cj.pruned(optax.adamw(1e-1, weight_decay=0.5), pruner)
  state = tx.init(params)
  masks = cj.masks_of(state)
  chex.assert_trees_all_equal(
      masks, cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.1)))
  new = params
  for _ in range(3):
    new, state = step(tx, new, state)
  chex.assert_trees_all_equal(cj.masks_of(state), masks)  # never recomputed
  frozen = ~masks["w"]
  np.testing.assert_array_equal(new["w"][frozen], params["w"][frozen])
  assert not np.any(new["w"][masks["w"]] == params["w"][masks["w"]])


def test_masks_are_recomputed_every_n_updates():
  params = {"w": jax.random.normal(jax.random.key(4), (30, 10))}
  tx = cj.pruned(optax.sgd(0.3), cj.pruners.magnitude(0.2, update_every=3))
  state = tx.init(params)
  keep_ratios = cj.keep_ratio_tree(params, 0.2)
  run = jax.jit(lambda p, s: step(tx, p, s))
  previous = cj.masks_of(state)
  for count in range(1, 7):
    params, state = run(params, state)
    if count % 3:
      chex.assert_trees_all_equal(cj.masks_of(state), previous)
    else:
      chex.assert_trees_all_equal(cj.masks_of(state),
                                  cj.magnitude_masks(params, keep_ratios))
    previous = cj.masks_of(state)
  assert int(state.count) == 6


def test_two_pruned_adams_are_the_cooperative_step():
  """Co-Prune's step is two ordinary steps: the source with its own
  magnitude masks, the target with masks fused with the updated source."""
  keys = jax.random.split(jax.random.key(5), 6)
  source = {"w1": jax.random.normal(keys[0], (6, 12)),
            "w2": jax.random.normal(keys[1], (12, 3))}
  target = jax.tree.map(lambda w, k: w + 0.3 * jax.random.normal(k, w.shape),
                        source, {"w1": keys[2], "w2": keys[3]})
  batches = [(jax.random.normal(keys[4], (16, 6)),
              jax.random.randint(keys[5], (16,), 0, 3))] * 3
  apply_fn = lambda p, x: jnp.tanh(x @ p["w1"]) @ p["w2"]
  keep_ratios = cj.keep_ratio_tree(source, 0.25)

  coprune = cj.published_coprune(keep_ratios,
                                 cj.classification_objective(apply_fn))
  state = coprune.init(source, target, alpha=0.7)
  for batch in batches:
    state, _ = coprune.step(state, batch, batch)

  def domain_loss(params, masks, batch):
    logits = apply_fn(cj.apply_masks(params, masks), batch[0])
    return cj.cross_entropy_loss(logits, batch[1])

  source_tx = cj.pruned(optax.adam(1e-3), cj.pruners.magnitude(0.25))
  target_tx = cj.pruned(optax.adam(1e-3),
                        cj.pruners.cooperative(0.25, alpha=0.7))

  @jax.jit
  def two_steps(source, source_state, target, target_state, batch):
    grads = jax.grad(domain_loss)(source, cj.masks_of(source_state), batch)
    updates, source_state = source_tx.update(grads, source_state, source)
    source = optax.apply_updates(source, updates)
    grads = jax.grad(domain_loss)(target, cj.masks_of(target_state), batch)
    updates, target_state = target_tx.update(grads, target_state, target,
                                             partner_params=source)
    return (source, source_state, optax.apply_updates(target, updates),
            target_state)

  carried = (source, source_tx.init(source), target, target_tx.init(target))
  for batch in batches:
    carried = two_steps(*carried, batch)
  source, source_state, target, target_state = carried
  chex.assert_trees_all_close(source, state.source_params, rtol=1e-6)
  chex.assert_trees_all_close(target, state.target_params, rtol=1e-6)
  chex.assert_trees_all_equal(cj.masks_of(source_state), state.source_masks)
  chex.assert_trees_all_equal(cj.masks_of(target_state), state.target_masks)


def test_bad_use_is_refused_plainly():
  params = dict_params()
  grads = jax.tree.map(jnp.zeros_like, params)
  tx = cj.pruned(optax.sgd(0.1), cj.pruners.cooperative(0.5, alpha=0.5))
  state = tx.init(params)
  with pytest.raises(ValueError, match="partner_params"):
    tx.update(grads, state, params)
  with pytest.raises(ValueError, match="needs params"):
    tx.update(grads, state)
  with pytest.raises(ValueError, match="alpha must be in"):
    cj.pruners.cooperative(0.5, alpha=1.5)
  with pytest.raises(ValueError, match="gradient must be one of"):
    cj.pruners.magnitude(0.5, gradient="sparse")
  with pytest.raises(ValueError, match="update_every"):
    cj.pruners.magnitude(0.5, update_every=-1)
  with pytest.raises(ValueError, match="keep ratio"):
    cj.pruned(optax.sgd(0.1), cj.pruners.magnitude(1.5)).init(params)
  with pytest.raises(TypeError, match="cj.pruners.Pruner"):
    cj.pruned(optax.sgd(0.1), "magnitude")
  with pytest.raises(ValueError, match="found 0"):
    cj.masks_of(optax.sgd(0.1).init(params))
  assert cj.pruners.by_name("magnitude")(keep_ratios=0.5).keep_ratios == 0.5


def test_gradual_keep_ratio_is_zhu_and_gupta_cubic_schedule():
  for step in (0, 10, 13, 40, 70, 100, 150):
    progress = min(max((step - 10) / 90, 0.0), 1.0)
    expected = 0.05 + (0.8 - 0.05) * (1 - progress) ** 3
    assert float(cj.pruners.gradual_keep_ratio(step, 0.05, 10, 100, 0.8)) == (
        pytest.approx(expected, rel=1e-6))


@pytest.mark.parametrize("fixed_from_end", [True, False])
def test_gradual_magnitude_keeps_the_scheduled_count_at_every_update(
    fixed_from_end):
  params = {"w": jax.random.normal(jax.random.key(6), (40, 25))}
  pruner = cj.pruners.gradual_magnitude(0.1, begin_step=2, end_step=8,
                                        update_every=2,
                                        fixed_from_end=fixed_from_end)
  # Straight-through gradients train the pruned weights too, so that
  # masks recomputed after the end step would move.
  tx = cj.pruned(optax.sgd(0.5), dataclasses.replace(
      pruner, gradient="straight_through"))
  state = tx.init(params)
  run = jax.jit(lambda p, s: step(tx, p, s))
  # keep(t) = 0.1 + 0.9 (1 - (t - 2) / 6)^3 at t = 2, 4, 6; 10% from t = 8.
  expected = {2: 1000, 4: 367, 6: 133, 8: 100, 10: 100, 12: 100}
  for count in range(1, 13):
    params, state = run(params, state)
    masks = cj.masks_of(state)["w"]
    kept = int(masks.sum())
    if count == 8:
      final = masks
    if count in expected:
      assert kept == expected[count], count
      top = cj.topk.top_count_masks([[jnp.abs(params["w"])]], [kept])[0][0]
      if count > 8 and fixed_from_end:  # the paper: fixed at the end step
        chex.assert_trees_all_equal(masks, final, custom_message=str(count))
        assert bool(jnp.any(masks != top))  # recomputing would move them
      else:
        chex.assert_trees_all_equal(masks, top, custom_message=str(count))
    else:  # masks stay between updates
      assert kept == expected.get(count - 1, 1000), count


def test_random_pruner_draws_exact_counts_once_per_seed():
  params = {"w": jax.random.normal(jax.random.key(7), (50, 20)),
            "b": jnp.zeros(20)}
  masks = {}
  for seed in (0, 1):
    tx = cj.pruned(optax.adam(1e-2), cj.pruners.random(0.3, seed=seed))
    state = tx.init(params)
    masks[seed] = cj.masks_of(state)
    new, state = step(tx, params, state)
    new, state = step(tx, new, state)
    chex.assert_trees_all_equal(cj.masks_of(state), masks[seed])  # fixed
    frozen = ~masks[seed]["w"]
    np.testing.assert_array_equal(new["w"][frozen], params["w"][frozen])
  assert cj.kept_counts(masks[0]) == {"w": 300}
  assert masks[0]["b"] is None
  assert np.any(masks[0]["w"] != masks[1]["w"])
  # Not the magnitude mask in disguise.
  magnitude = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.3))
  assert np.mean(masks[0]["w"] == magnitude["w"]) < 0.9


def test_saliency_pruner_keeps_the_largest_weight_times_gradient():
  params = {"w": jax.random.normal(jax.random.key(8), (30, 10))}
  tx = cj.pruned(optax.sgd(0.1), cj.pruners.saliency(0.2))
  state = tx.init(params)
  grads = {"w": jax.random.normal(jax.random.key(9), (30, 10))}
  updates, state = jax.jit(tx.update)(grads, state, params)
  new = optax.apply_updates(params, updates)
  chex.assert_trees_all_equal(
      cj.masks_of(state),
      cj.score_masks({"w": jnp.abs(new["w"] * grads["w"])},
                     cj.keep_ratio_tree(params, 0.2)))


def test_n_of_m_keeps_the_largest_n_of_every_m_inputs():
  params = {"conv": {"kernel": planted_ties(jax.random.key(10), (3, 3, 8, 5))},
            "fc": {"kernel": planted_ties(jax.random.key(11), (16, 4)),
                   "bias": jnp.zeros(4)}}
  tx = cj.pruned(optax.sgd(0.0), cj.pruners.n_of_m(2, 4))
  _, state = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params),
                       params)
  masks = cj.masks_of(state)
  assert masks["fc"]["bias"] is None
  for name in ("conv", "fc"):
    weight = np.asarray(params[name]["kernel"])
    mask = np.asarray(masks[name]["kernel"])
    # Groups of 4 consecutive inputs (axis -2) for every other index.
    w = np.moveaxis(np.abs(weight), -2, -1).reshape(-1, 4)
    k = np.moveaxis(mask, -2, -1).reshape(-1, 4)
    assert (k.sum(-1) == 2).all(), name
    for group, kept in zip(w, k):  # the 2 largest, ties to the lower index
      expected = np.argsort(-group, kind="stable")[:2]
      assert sorted(np.flatnonzero(kept)) == sorted(expected), (group, kept)
  odd = {"w": jnp.ones((6, 2))}  # 6 inputs: not groups of 4
  with pytest.raises(ValueError, match="divides by 4"):
    tx.update(odd, tx.init(odd), odd)


@pytest.mark.parametrize("method", ["rigl", "sparse_evolutionary"])
def test_drop_and_grow_keeps_counts_and_starts_grown_weights_at_zero(method):
  params = {"w": jax.random.normal(jax.random.key(12), (20, 10)),
            "b": jnp.zeros(10)}
  pruner = cj.pruners.by_name(method)(keep_ratios=0.25, end_step=10,
                                      drop_fraction=0.5, update_every=2)
  tx = cj.pruned(optax.sgd(0.1), pruner)
  state = tx.init(params)
  update = jax.jit(tx.update)
  grads = [{"w": jax.random.normal(jax.random.key(20 + i), (20, 10)),
            "b": jnp.ones(10)} for i in range(2)]
  old = cj.masks_of(state)["w"]
  assert int(old.sum()) == 50 and cj.masks_of(state)["b"] is None
  updates, state = update(grads[0], state, params)  # count 1: no change
  params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(cj.masks_of(state)["w"], old)
  updates, state = update(grads[1], state, params)  # count 2: drop and grow
  params = optax.apply_updates(params, updates)
  new = cj.masks_of(state)["w"]
  grown = new & ~old
  assert int(new.sum()) == 50 and 0 < int(grown.sum()) <= 22
  np.testing.assert_array_equal(params["w"][grown], 0.0)
  # floor(0.5 * (1 + cos(pi * 2 / 10)) / 2 * 50) = 22 smallest kept dropped.
  survivors = cj.topk.top_count_masks(
      [[jnp.where(old, jnp.abs(params["w"]), -jnp.inf)]], [28])[0][0]
  assert not np.any(survivors & ~new)
  if method == "rigl":  # grown where the gradient is largest
    expected = cj.topk.top_count_masks(
        [[jnp.where(survivors, jnp.inf, jnp.abs(grads[1]["w"]))]], [50])[0][0]
    np.testing.assert_array_equal(new, expected)
