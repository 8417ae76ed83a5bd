import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from tests.trees import TinyLinen, linen_params


def loss_of_masked(params, masks, straight_through, inputs):
  masked = cj.apply_masks(params, masks, straight_through=straight_through)
  return jnp.sum(TinyLinen().apply({"params": masked}, inputs) ** 2)


def setup():
  params = linen_params()
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.3))
  inputs = jax.random.normal(jax.random.key(1), (2, 5, 5, 2))
  return params, masks, inputs


def test_forward_multiplies_by_mask_and_leaves_unmasked_alone():
  params = {"w": jnp.array([1.0, 2.0, 3.0]), "b": jnp.array([5.0])}
  masks = {"w": jnp.array([True, False, True]), "b": None}
  out = cj.apply_masks(params, masks)
  np.testing.assert_array_equal(out["w"], [1.0, 0.0, 3.0])
  np.testing.assert_array_equal(out["b"], [5.0])


def test_straight_through_gradient_is_dense_gradient_at_masked_weights():
  params, masks, inputs = setup()
  grads = jax.jit(jax.grad(loss_of_masked), static_argnums=2)(
      params, masks, True, inputs)
  masked = cj.apply_masks(params, masks)
  dense_grads_at_masked = jax.grad(
      lambda p: jnp.sum(TinyLinen().apply({"params": p}, inputs) ** 2))(masked)
  # jit and eager reduce in different orders: float32 rounding only.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-6),
               grads, dense_grads_at_masked)
  # Pruned weights do get gradient: the estimator passes it through.
  pruned = ~masks["conv1"]["kernel"]
  assert np.abs(np.asarray(grads["conv1"]["kernel"])[pruned]).sum() > 0


def test_without_straight_through_pruned_weights_get_zero_gradient():
  params, masks, inputs = setup()
  grads = jax.grad(loss_of_masked)(params, masks, False, inputs)
  straight = jax.grad(loss_of_masked)(params, masks, True, inputs)
  for name in ("conv1", "fc"):
    mask = np.asarray(masks[name]["kernel"])
    grad = np.asarray(grads[name]["kernel"])
    assert (grad[~mask] == 0).all()
    np.testing.assert_allclose(grad[mask],
                               np.asarray(straight[name]["kernel"])[mask])


def test_masks_of_other_structure_raise():
  params, masks, _ = setup()
  del masks["fc"]
  with pytest.raises(ValueError, match="'fc/bias'"):
    cj.apply_masks(params, masks)
