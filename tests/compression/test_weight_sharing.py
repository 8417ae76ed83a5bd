import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import coprune_jax as cj
from coprune_jax.compression import huffman
from coprune_jax.compression import weight_sharing
from tests.trees import dict_params


def test_kmeans_finds_well_separated_clusters_and_ignores_pruned_entries():
  values = jnp.array([-2.0, -2.1, -1.9, 0.0, 3.0, 3.2, 2.8, 100.0])
  weights = jnp.array([1, 1, 1, 0, 1, 1, 1, 0], jnp.float32)
  centroids, indices = weight_sharing.kmeans_1d(values, weights, 2)
  np.testing.assert_allclose(centroids, [-2.0, 3.0], rtol=1e-6)
  np.testing.assert_array_equal(indices[:3], [0, 0, 0])
  np.testing.assert_array_equal(indices[4:7], [1, 1, 1])


def test_shared_layer_keeps_its_mask_and_uses_2_to_the_bits_values():
  params = dict_params()
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.5))
  shared = weight_sharing.share_weights(params, masks, bits=2)
  assert shared["norm"]["scale"] is None and shared["fc"][1] is None
  rebuilt = weight_sharing.shared_params(params, shared, masks)
  for kernel, mask, original in [
      (rebuilt["conv1"]["kernel"], masks["conv1"]["kernel"],
       params["conv1"]["kernel"]),
      (rebuilt["fc"][0], masks["fc"][0], params["fc"][0])]:
    assert np.all(np.asarray(kernel)[~np.asarray(mask)] == 0)
    kept = np.asarray(kernel)[np.asarray(mask)]
    assert len(np.unique(kept)) <= 4
    # Clustering error is well below the spread of the kept weights.
    error = np.abs(kept - np.asarray(original)[np.asarray(mask)]).max()
    assert error < 0.5 * np.ptp(kept)
  np.testing.assert_array_equal(rebuilt["conv1"]["bias"],
                                params["conv1"]["bias"])


def test_centroid_gradient_sums_the_gradients_of_its_weights():
  params = {"w": jnp.array([[1.0, 1.1, 5.0, 5.2]])}
  masks = {"w": jnp.array([[True, True, True, False]])}
  shared = weight_sharing.share_weights(params, masks, bits=1)
  x = jnp.array([[1.0], [2.0]])

  def loss(centroids):
    p = weight_sharing.shared_params(
        params, weight_sharing.with_centroids(shared, centroids), masks)
    return jnp.sum((x @ p["w"]) ** 2)

  grad = jax.grad(loss)(weight_sharing.centroid_tree(shared))["w"]
  w = weight_sharing.shared_params(params, shared, masks)["w"]
  weight_grad = jax.grad(lambda w: jnp.sum((x @ w) ** 2))(w) * masks["w"]
  np.testing.assert_allclose(grad, [weight_grad[0, :2].sum(),
                                    weight_grad[0, 2:].sum()], rtol=1e-6)


def test_fine_tuning_centroids_lowers_the_loss():
  key_w, key_x = jax.random.split(jax.random.key(0))
  params = {"w": jax.random.normal(key_w, (8, 4))}
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.5))
  x = jax.random.normal(key_x, (32, 8))
  target = x @ params["w"] * 1.3
  shared = weight_sharing.share_weights(params, masks, bits=2)

  def loss(centroids):
    p = weight_sharing.shared_params(
        params, weight_sharing.with_centroids(shared, centroids), masks)
    return jnp.mean((x @ p["w"] - target) ** 2)

  centroids = weight_sharing.centroid_tree(shared)
  adam = optax.adam(1e-2)
  state = adam.init(centroids)
  before = loss(centroids)
  for _ in range(50):
    updates, state = adam.update(jax.grad(loss)(centroids), state)
    centroids = optax.apply_updates(centroids, updates)
  assert loss(centroids) < 0.7 * before


def test_bad_bits_are_refused():
  params = dict_params()
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.5))
  with pytest.raises(ValueError, match="bits"):
    weight_sharing.share_weights(params, masks, bits=0)


def test_huffman_of_a_skewed_stream_beats_fixed_width_and_meets_entropy():
  symbols = np.array([0] * 50 + [1] * 25 + [2] * 13 + [3] * 12)
  bits = huffman.huffman_bits(symbols)
  assert bits == 50 * 1 + 25 * 2 + 13 * 3 + 12 * 3
  assert huffman.entropy_bits(symbols) <= bits < 2 * len(symbols)
  # A uniform stream gains nothing; one symbol costs a bit each.
  assert huffman.huffman_bits(np.arange(8).repeat(3)) == 24 * 3
  assert huffman.huffman_bits(np.zeros(5, int)) == 5
  assert huffman.entropy_bits(np.zeros(5, int)) == 0.0


def test_huffman_code_is_within_one_bit_per_symbol_of_entropy():
  rng = np.random.default_rng(0)
  symbols = rng.geometric(0.3, size=5000)
  bits, bound = huffman.huffman_bits(symbols), huffman.entropy_bits(symbols)
  assert bound <= bits <= bound + len(symbols)
