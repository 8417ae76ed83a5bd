import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.core import tree_paths
from tests.trees import linen_params


def masks_by_name(masks):
  return dict(tree_paths.named_leaves(masks, keep_none=True))


def perturbed(params, seed, scale=1.0):
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(treedef, [
      w + scale * jax.random.normal(k, w.shape) for w, k in zip(leaves, keys)])


def test_magnitude_masks_hand_made():
  params = {"w": jnp.array([[1.0, -4.0], [3.0, -2.0]]), "b": jnp.array([9.0])}
  ratios = cj.keep_ratio_tree(params, 0.5)
  masks = cj.magnitude_masks(params, ratios)
  np.testing.assert_array_equal(masks["w"], [[False, True], [True, False]])
  assert masks["b"] is None


def test_global_scope_lets_layers_compete():
  params = {"big": jnp.array([[10.0, 9.0], [8.0, 7.0]]),
            "small": jnp.array([[0.1, 0.2], [0.3, 0.4]])}
  ratios = cj.keep_ratio_tree(params, 0.5)
  layer = cj.magnitude_masks(params, ratios, scope="layer")
  assert int(layer["big"].sum()) == 2 and int(layer["small"].sum()) == 2
  global_ = cj.magnitude_masks(params, ratios, scope="global")
  assert bool(global_["big"].all()) and not bool(global_["small"].any())


def test_exact_counts_on_every_layout(any_params):
  ratios = cj.keep_ratio_tree(any_params, [("conv1/kernel", 0.2), (".*", 0.5)])
  masks = cj.magnitude_masks(any_params, ratios)
  named_params = dict(tree_paths.named_leaves(any_params))
  counts = cj.kept_counts(masks)
  assert counts  # at least the two kernels
  for name, keep_ratio in tree_paths.named_leaves(ratios):
    assert counts[name] == cj.kept_count(named_params[name].size, keep_ratio)
  assert set(counts) == {n for n, _ in tree_paths.named_leaves(ratios)}


def test_alpha_zero_is_target_magnitude_and_one_is_source(any_params):
  source = any_params
  target = perturbed(any_params, seed=3)
  ratios = cj.keep_ratio_tree(source, 0.3)
  for fusion in ("signed", "magnitude"):
    source_masks, target_masks = cj.cooperative_masks(
        source, target, 0.0, ratios, fusion=fusion)
    chex.assert_trees_all_equal(source_masks,
                                cj.magnitude_masks(source, ratios))
    chex.assert_trees_all_equal(target_masks,
                                cj.magnitude_masks(target, ratios))
    _, target_masks = cj.cooperative_masks(source, target, 1.0, ratios,
                                           fusion=fusion)
    chex.assert_trees_all_equal(target_masks,
                                cj.magnitude_masks(source, ratios))


def test_signed_and_magnitude_fusion_hand_made():
  source = {"w": jnp.array([[2.0, -2.0, 0.0, 1.0]])}
  target = {"w": jnp.array([[-2.0, -2.0, 1.5, 0.0]])}
  ratios = cj.keep_ratio_tree(source, 0.5)
  # Signed: |0.5 ws + 0.5 wt| = [0, 2, 0.75, 0.5]; opposite signs cancel.
  _, signed = cj.cooperative_masks(source, target, 0.5, ratios)
  np.testing.assert_array_equal(signed["w"], [[False, True, True, False]])
  # Magnitude: 0.5|ws| + 0.5|wt| = [2, 2, 0.75, 0.5].
  _, magnitude = cj.cooperative_masks(source, target, 0.5, ratios,
                                      fusion="magnitude")
  np.testing.assert_array_equal(magnitude["w"], [[True, True, False, False]])


def test_custom_fusion_callable():
  source = {"w": jnp.array([[1.0, 2.0, 3.0, 4.0]])}
  target = {"w": jnp.array([[4.0, 3.0, 2.0, 1.0]])}
  ratios = cj.keep_ratio_tree(source, 0.25)
  smallest_source = lambda ws, wt, alpha: -jnp.abs(ws)
  _, masks = cj.cooperative_masks(source, target, 0.5, ratios,
                                  fusion=smallest_source)
  np.testing.assert_array_equal(masks["w"], [[True, False, False, False]])


def test_cooperative_masks_jit_with_traced_alpha():
  source = linen_params()
  target = perturbed(source, seed=1)
  ratios = cj.keep_ratio_tree(source, 0.2)
  fn = jax.jit(lambda s, t, a: cj.cooperative_masks(s, t, a, ratios))
  chex.assert_trees_all_equal(fn(source, target, 0.4),
                              cj.cooperative_masks(source, target, 0.4, ratios))


def test_deterministic():
  source = linen_params()
  target = perturbed(source, seed=1)
  ratios = cj.keep_ratio_tree(source, 0.1)
  first = cj.cooperative_masks(source, target, 0.5, ratios)
  chex.assert_trees_all_equal(first,
                              cj.cooperative_masks(source, target, 0.5, ratios))


@pytest.mark.parametrize("alpha", [-0.01, 1.5, float("nan")])
def test_alpha_out_of_range(alpha):
  params = linen_params()
  with pytest.raises(ValueError, match="alpha must be in"):
    cj.cooperative_masks(params, params, alpha, cj.keep_ratio_tree(params, 0.5))


def test_source_and_target_with_different_shapes():
  source = linen_params()
  target = jax.tree.map(lambda x: x, source)
  target["fc"]["kernel"] = jnp.zeros((4, 5))
  with pytest.raises(ValueError, match="'fc/kernel' has shape"):
    cj.cooperative_masks(source, target, 0.5, cj.keep_ratio_tree(source, 0.5))


def test_source_and_target_with_different_structure():
  source = linen_params()
  target = {k: v for k, v in source.items() if k != "norm"}
  with pytest.raises(ValueError, match="'norm/bias'"):
    cj.cooperative_masks(source, target, 0.5, cj.keep_ratio_tree(source, 0.5))


def test_unknown_fusion_and_scope():
  params = linen_params()
  ratios = cj.keep_ratio_tree(params, 0.5)
  with pytest.raises(ValueError, match="fusion must be one of"):
    cj.cooperative_masks(params, params, 0.5, ratios, fusion="mean")
  with pytest.raises(ValueError, match="scope must be"):
    cj.magnitude_masks(params, ratios, scope="network")


def test_check_masks_names_the_parameter():
  params = linen_params()
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.5))
  masks["fc"]["kernel"] = masks["fc"]["kernel"][:2]
  with pytest.raises(ValueError, match="'fc/kernel' has shape"):
    cj.masks.check_masks(params, masks)
