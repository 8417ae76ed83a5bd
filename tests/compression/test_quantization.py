import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coprune_jax.compression import quantization
from tests.trees import dict_params


def test_uniform_quantization_of_a_hand_made_array():
  weight = jnp.array([-1.0, -0.4, 0.0, 0.2, 0.26, 0.5])
  # 3 bits: 3 levels per side, step 1/3.
  np.testing.assert_allclose(quantization.uniform_quantize(weight, 3),
                             [-1.0, -1 / 3, 0.0, 1 / 3, 1 / 3, 2 / 3],
                             rtol=1e-6)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_uniform_quantization_uses_at_most_2_to_the_bits_values(bits):
  weight = jax.random.normal(jax.random.key(bits), (4000,))
  quantized = quantization.uniform_quantize(weight, bits)
  assert len(np.unique(np.asarray(quantized))) <= 2 ** bits - 1
  step = float(jnp.max(jnp.abs(weight))) / (2 ** (bits - 1) - 1)
  assert float(jnp.max(jnp.abs(quantized - weight))) <= step / 2 + 1e-6


def test_zero_weights_and_all_zero_kernels_stay_zero():
  np.testing.assert_array_equal(
      quantization.uniform_quantize(jnp.zeros((3, 3)), 4), jnp.zeros((3, 3)))
  assert quantization.uniform_quantize(jnp.array([0.0, 1.0]), 2)[0] == 0.0


def test_binarize_gives_signs_and_optionally_the_mean_magnitude():
  weight = jnp.array([-2.0, 0.0, 0.5, 1.5])
  np.testing.assert_array_equal(quantization.binarize(weight),
                                [-1.0, 1.0, 1.0, 1.0])
  np.testing.assert_allclose(quantization.binarize(weight, scaled=True),
                             [-1.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("method, bits", [("uniform", 4), ("binary", None)])
def test_straight_through_gradient_is_the_gradient_at_the_quantized_weights(
    method, bits):
  params = dict_params()
  x = jax.random.normal(jax.random.key(1), (5, 4))

  def loss_at(p):
    return jnp.sum(jnp.tanh(x @ p["fc"][0]) ** 2)

  quantized = quantization.quantize_params(params, method, bits)
  grads = jax.grad(lambda p: loss_at(quantization.quantize_params(
      p, method, bits)))(params)
  np.testing.assert_allclose(grads["fc"][0], jax.grad(loss_at)(quantized)["fc"][0],
                             rtol=1e-5)
  # Without the STE the rounding's own gradient is zero, except through
  # the uniform step size, which the largest weight sets.
  no_ste = jax.grad(lambda p: loss_at(quantization.quantize_params(
      p, method, bits, straight_through=False)))(params)
  assert np.count_nonzero(no_ste["fc"][0]) <= (1 if method == "uniform" else 0)


def test_only_weight_kernels_are_quantized_by_default(any_params):
  quantized = quantization.quantize_params(any_params, "binary")
  for (name, q), (_, w) in zip(jax.tree_util.tree_leaves_with_path(quantized),
                               jax.tree_util.tree_leaves_with_path(any_params)):
    if w.ndim >= 2:
      assert set(np.unique(np.asarray(q))) <= {-1.0, 1.0}, name
    else:
      np.testing.assert_array_equal(q, w)


def test_select_restricts_quantization_and_clip_bounds_shadow_weights():
  params = {"a": jnp.array([[3.0, -0.25]]), "b": jnp.array([[0.5, -5.0]])}
  select = {"a": None, "b": True}
  quantized = quantization.quantize_params(params, "binary", select=select)
  np.testing.assert_array_equal(quantized["a"], params["a"])
  np.testing.assert_array_equal(quantized["b"], [[1.0, -1.0]])
  clipped = quantization.clip_shadow_weights(params)
  np.testing.assert_array_equal(clipped["a"], [[1.0, -0.25]])
  np.testing.assert_array_equal(clipped["b"], [[0.5, -1.0]])


def test_bad_settings_are_refused():
  params = dict_params()
  with pytest.raises(ValueError, match="bits"):
    quantization.quantize_params(params, "uniform", bits=1)
  with pytest.raises(ValueError, match="method"):
    quantization.quantize_params(params, "ternary")
  with pytest.raises(ValueError, match="select has parameter .conv1."):
    quantization.quantize_params(params, select={"conv1": None})


@pytest.mark.parametrize("method, bits", [("uniform", 2), ("binary", None)])
def test_masked_quantization_keeps_pruned_weights_at_zero(method, bits):
  params = {"fc": jnp.array([[0.5, -0.3], [2.0, 0.1]]), "b": jnp.ones(2)}
  masks = {"fc": jnp.array([[True, True], [False, True]]), "b": None}
  quantized = quantization.quantize_params(params, method, bits, scaled=True,
                                           masks=masks)
  np.testing.assert_array_equal(quantized["b"], params["b"])
  assert quantized["fc"][1, 0] == 0.0
  if method == "binary":
    # Scale: mean |W| over the three kept weights, not the four entries.
    np.testing.assert_allclose(quantized["fc"], [[0.9 / 3, -0.9 / 3],
                                                 [0.0, 0.9 / 3]], rtol=1e-6)
  else:
    # The pruned 2.0 does not set the step: max kept |W| = 0.5 does.
    np.testing.assert_allclose(quantized["fc"], [[0.5, -0.5], [0.0, 0.0]])
  grads = jax.grad(lambda p: jnp.sum(quantization.quantize_params(
      p, method, bits, scaled=True, masks=masks)["fc"] * 3.0))(params)
  np.testing.assert_array_equal(grads["fc"], 3.0 * masks["fc"])
