import jax
import jax.numpy as jnp
import numpy as np

import coprune_jax as cj
from coprune_jax.pruners import _dns as dns


def test_surgery_keeps_state_between_thresholds():
  weight = jnp.array([0.1, 0.5, 0.5, 1.0, -2.0, -0.5])
  mask = jnp.array([True, True, False, False, False, True])
  new = dns.surgery(weight, mask, low=0.4, high=0.9)
  # 0.1 cut; the three in [0.4, 0.9] keep their state; 1.0 and -2.0 spliced.
  np.testing.assert_array_equal(new, [False, True, False, True, True, True])


def test_thresholds_surround_the_kth_largest_magnitude():
  weight = jnp.array([[4.0, -3.0], [2.0, 1.0]])
  low, high = dns.layer_thresholds(weight, 0.5, hysteresis=0.25)
  assert float(low) == 2.25 and float(high) == 3.75


def test_update_probability_decays():
  assert dns.update_probability(0) == 1.0
  np.testing.assert_allclose(dns.update_probability(10000, 1e-4, 2.0), 0.25)


def test_tree_update_applies_with_probability_and_skips_biases():
  params = {"w": jnp.arange(1.0, 11.0), "b": jnp.ones(3)}
  ratios = cj.keep_ratio_tree({"w": params["w"].reshape(2, 5), "b": params["b"]},
                              0.3)
  ratios = {"w": ratios["w"], "b": None}
  masks = {"w": jnp.ones(10, bool), "b": None}
  new = jax.jit(lambda p, m, k: dns.dns_masks(p, m, ratios, k, 0,
                                              hysteresis=0.0))(
      params, masks, jax.random.key(0))
  assert new["b"] is None
  np.testing.assert_array_equal(new["w"], params["w"] >= 8)
  # gamma so large that the update probability is ~0: masks stay.
  kept = dns.dns_masks(params, masks, ratios, jax.random.key(0), 10**9,
                       gamma=1.0)
  assert bool(kept["w"].all())


def test_budget_centre_lands_on_the_kept_count_where_the_kth_rule_drifts():
  """Issue 16: DNS compared at a compression rate must land on it (an
  800-d MLP layer kept 3.5% when 5% was asked)."""
  key_w, key_walk = jax.random.split(jax.random.key(3))
  weight = jax.random.normal(key_w, (800, 64))
  for keep_ratio in (0.05, 0.0105):
    count = cj.kept_count(weight.size, keep_ratio)
    ratios = {"w": keep_ratio}
    # From all-ones masks every weight inside the band stays kept: the
    # k-th largest magnitude as centre keeps far more than k.
    ones = {"w": jnp.ones(weight.shape, bool)}
    kth = dns.dns_masks({"w": weight}, ones, ratios, jax.random.key(0), 0,
                        centre="kth")
    assert int(kth["w"].sum()) > 1.2 * count
    masks = ones
    w = weight
    for step in range(8):  # a random walk of the weights, surgery each step
      w = w + 0.05 * jax.random.normal(jax.random.fold_in(key_walk, step),
                                       w.shape)
      masks = dns.dns_masks({"w": w}, masks, ratios, jax.random.key(0), 0)
      assert abs(int(masks["w"].sum()) - count) <= 0.02 * count, step


def test_budget_thresholds_keep_the_band_width():
  weight = jax.random.normal(jax.random.key(0), (50, 40))
  mask = jax.random.bernoulli(jax.random.key(1), 0.1, weight.shape)
  low, high = dns.budget_thresholds(weight, mask, 0.1, hysteresis=0.2)
  np.testing.assert_allclose(float(high) / float(low), 1.2 / 0.8, rtol=1e-6)
  kept = dns.surgery(weight, mask, low, high)
  assert abs(int(kept.sum()) - cj.kept_count(weight.size, 0.1)) <= 2
