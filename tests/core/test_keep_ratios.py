import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import tree_paths
from tests.trees import dict_params, linen_params, nnx_params


def ratios_by_name(tree):
  return dict(tree_paths.named_leaves(tree, keep_none=True))


def test_names_are_the_same_for_linen_and_nnx():
  linen = [n for n, _ in tree_paths.named_leaves(linen_params())]
  nnx = [n for n, _ in tree_paths.named_leaves(nnx_params())]
  assert sorted(linen) == sorted(nnx) == [
      "conv1/bias", "conv1/kernel", "fc/bias", "fc/kernel", "norm/bias",
      "norm/scale"]
  plain = [n for n, _ in tree_paths.named_leaves(dict_params())]
  assert "fc/0" in plain and "conv1/kernel" in plain


def test_one_number_prunes_kernels_only(any_params):
  tree = keep_ratios_lib.keep_ratio_tree(any_params, 0.25)
  for name, keep_ratio in ratios_by_name(tree).items():
    expected = 0.25 if name in ("conv1/kernel", "fc/kernel", "fc/0") else None
    assert keep_ratio == expected, name


def test_regex_rules_first_match_wins(any_params):
  tree = keep_ratios_lib.keep_ratio_tree(
      any_params, [("conv1/kernel", 0.2), (".*", 0.01)])
  ratios = ratios_by_name(tree)
  assert ratios["conv1/kernel"] == 0.2
  assert ratios.get("fc/kernel", ratios.get("fc/0")) == 0.01
  assert ratios["conv1/bias"] is None and ratios["norm/scale"] is None


def test_regex_rule_can_leave_a_layer_dense():
  tree = keep_ratios_lib.keep_ratio_tree(
      linen_params(), [("fc/.*", None), (".*kernel", 0.5)])
  assert ratios_by_name(tree)["fc/kernel"] is None
  assert ratios_by_name(tree)["conv1/kernel"] == 0.5


def test_unmatched_prunable_parameters_stay_dense():
  tree = keep_ratios_lib.keep_ratio_tree(linen_params(), [("conv1/kernel", 0.5)])
  assert ratios_by_name(tree)["fc/kernel"] is None


def test_tree_rules_round_trip(any_params):
  tree = keep_ratios_lib.keep_ratio_tree(any_params, 0.3)
  assert ratios_by_name(keep_ratios_lib.keep_ratio_tree(any_params, tree)) == (
      ratios_by_name(tree))


def test_custom_prunable_predicate():
  tree = keep_ratios_lib.keep_ratio_tree(
      linen_params(), 0.5, prunable=lambda name, leaf: name.startswith("fc/"))
  ratios = ratios_by_name(tree)
  assert ratios["fc/kernel"] == 0.5 and ratios["fc/bias"] == 0.5
  assert ratios["conv1/kernel"] is None


@pytest.mark.parametrize("bad", [0, -0.5, 1.01, math.nan, True, "0.1"])
def test_bad_keep_ratio_number(bad):
  with pytest.raises(ValueError, match="keep.ratio"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), bad)


@pytest.mark.parametrize("scalar", [jnp.float32(0.25), np.float32(0.25),
                                    np.array(0.25), jnp.array(0.25)])
def test_array_scalars_are_keep_ratios(scalar):
  from_scalar = keep_ratios_lib.keep_ratio_tree(linen_params(), scalar)
  assert ratios_by_name(from_scalar) == ratios_by_name(
      keep_ratios_lib.keep_ratio_tree(linen_params(), 0.25))
  rules = keep_ratios_lib.keep_ratio_tree(linen_params(),
                                          [("conv1/kernel", scalar)])
  assert type(ratios_by_name(rules)["conv1/kernel"]) is float


def test_traced_keep_ratio_is_refused_plainly():
  def build(ratio):
    keep_ratios_lib.keep_ratio_tree(linen_params(), ratio)
    return ratio
  with pytest.raises(ValueError, match="concrete numbers"):
    jax.jit(build)(0.25)


def test_bad_keep_ratio_in_rules_names_the_rule():
  with pytest.raises(ValueError, match="rule 'fc/kernel'"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), [("fc/kernel", 2.0)])


def test_bad_keep_ratio_in_tree_names_the_parameter():
  tree = keep_ratios_lib.keep_ratio_tree(linen_params(), 0.5)
  tree["fc"]["kernel"] = float("nan")
  with pytest.raises(ValueError, match="'fc/kernel'"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), tree)


def test_rule_matching_nothing():
  with pytest.raises(ValueError, match="'conv9/kernel' matches no prunable"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), [("conv9/kernel", 0.1)])


def test_rule_shadowed_by_earlier_rule():
  with pytest.raises(ValueError, match="'fc/kernel' matches no prunable"):
    keep_ratios_lib.keep_ratio_tree(
        linen_params(), [(".*kernel", 0.1), ("fc/kernel", 0.5)])


def test_rule_matching_only_a_bias():
  with pytest.raises(ValueError, match="'conv1/bias' matches no prunable"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), [("conv1/bias", 0.1)])


def test_invalid_regex():
  with pytest.raises(ValueError, match="not a valid regex"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), [("conv1/(", 0.1)])


def test_tree_with_ratio_on_bias():
  tree = keep_ratios_lib.keep_ratio_tree(linen_params(), 0.5)
  tree["conv1"]["bias"] = 0.5
  with pytest.raises(ValueError, match="'conv1/bias' is not prunable"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), tree)


def test_tree_with_other_structure():
  tree = keep_ratios_lib.keep_ratio_tree(linen_params(), 0.5)
  del tree["fc"]
  with pytest.raises(ValueError, match="'fc/bias'"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), tree)


def test_rules_of_wrong_kind():
  with pytest.raises(ValueError, match="must be a number"):
    keep_ratios_lib.keep_ratio_tree(linen_params(), "0.5")


def test_kept_count_rounds_half_up_and_clamps():
  assert keep_ratios_lib.kept_count(10, 0.25) == 3
  assert keep_ratios_lib.kept_count(10, 0.35) == 4
  assert keep_ratios_lib.kept_count(1000, 1e-9) == 1
  assert keep_ratios_lib.kept_count(7, 1.0) == 7


def test_overall_keep_ratio():
  params = {"a": jnp.zeros((10, 10)), "b": jnp.zeros((10, 30)), "c": jnp.zeros(5)}
  tree = keep_ratios_lib.keep_ratio_tree(params, [("a", 0.5), ("b", 0.1)])
  assert keep_ratios_lib.overall_keep_ratio(params, tree) == (50 + 30) / 400


def test_erk_densities_follow_the_formula_of_evci_et_al():
  params = {"conv": {"kernel": jnp.ones((3, 3, 16, 32)), "bias": jnp.ones(32)},
            "fc1": {"kernel": jnp.ones((512, 256))},
            "fc2": {"kernel": jnp.ones((256, 10))},
            "head": {"kernel": jnp.ones((10, 10))}}
  ratios = ratios_by_name(keep_ratios_lib.erk_keep_ratios(
      params, 0.1, dense=["head/kernel"]))
  assert ratios["conv/bias"] is None and ratios["head/kernel"] is None
  shapes = {"conv/kernel": (3, 3, 16, 32), "fc1/kernel": (512, 256),
            "fc2/kernel": (256, 10)}
  erk = {n: sum(s) / math.prod(s) for n, s in shapes.items()}
  # fc2's share (266 / 2560 * eps) would exceed 1: it stays whole...
  assert ratios["fc2/kernel"] == 1.0
  # ...and the others keep eps * (sum of dims) / (product of dims), with
  # eps set so that all three keep 10% of their weights together.
  epsilon = ratios["conv/kernel"] / erk["conv/kernel"]
  assert ratios["fc1/kernel"] == pytest.approx(epsilon * erk["fc1/kernel"])
  kept = sum(ratios[n] * math.prod(s) for n, s in shapes.items())
  assert kept == pytest.approx(0.1 * sum(math.prod(s) for s in shapes.values()))
  # The tree feeds keep_ratio_tree and the mask functions as it is.
  assert ratios_by_name(keep_ratios_lib.keep_ratio_tree(
      params, keep_ratios_lib.erk_keep_ratios(params, 0.1))) == ratios_by_name(
          keep_ratios_lib.erk_keep_ratios(params, 0.1))
