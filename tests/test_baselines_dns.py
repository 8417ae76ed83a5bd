import jax
import jax.numpy as jnp
import numpy as np

import coprune_jax as cj
from coprune_jax.baselines import dns


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
