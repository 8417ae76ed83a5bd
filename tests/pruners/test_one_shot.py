import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.core import tree_paths
from coprune_jax.pruners import _lobs as lobs
from coprune_jax.pruners import _obd as obd
from coprune_jax.models import CifarNet


def small_net_and_inputs():
  module = CifarNet(num_classes=4, widths=(4, 4, 6, 8))
  x = jax.random.normal(jax.random.key(0), (2, 16, 32, 32, 3))
  params = module.init(jax.random.key(1), x[0])["params"]
  return module, params, x


@pytest.mark.slow  # ~15 s; with the slow tests to keep the default budget
def test_layer_input_hessians_match_direct_computation():
  module, params, x = small_net_and_inputs()
  hessians = lobs.layer_input_hessians(module, params, list(x))
  assert set(hessians) == {"conv1/kernel", "conv2/kernel", "conv3/kernel",
                           "fc1/kernel", "fc2/kernel"}
  patches = lobs.conv_patches(x.reshape(-1, 32, 32, 3), (5, 5, 3, 4),
                              padding=[(2, 2), (2, 2)])
  np.testing.assert_allclose(hessians["conv1/kernel"],
                             lobs.input_hessian(patches), rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # ~15 s; with the slow tests to keep the default budget
def test_lobs_model_pruning_keeps_exact_counts_and_zeros_pruned():
  module, params, x = small_net_and_inputs()
  ratios = cj.keep_ratio_tree(params, 0.2)
  new_params, masks = lobs.lobs_prune_model(module, params, list(x), ratios)
  sizes = dict(tree_paths.named_leaves(params))
  for name, count in cj.kept_counts(masks).items():
    assert count == cj.kept_count(sizes[name].size, 0.2)
  pruned = ~np.asarray(masks["fc1"]["kernel"])
  assert (np.asarray(new_params["fc1"]["kernel"])[pruned] == 0).all()
  assert masks["fc1"]["bias"] is None
  np.testing.assert_array_equal(new_params["fc1"]["bias"], params["fc1"]["bias"])


# Gauss-Newton (~10 s) runs with the slow tests: the counts do not depend on
# the estimate.
@pytest.mark.parametrize("hessian", [
    pytest.param("gauss_newton", marks=pytest.mark.slow), "hutchinson"])
def test_obd_masks_exact_counts(hessian):
  module, params, x = small_net_and_inputs()
  labels = jnp.arange(16) % 4
  ratios = cj.keep_ratio_tree(params, 0.1)
  logits = lambda p, inputs: module.apply({"params": p}, inputs)
  loss = lambda p, batch: cj.cross_entropy_loss(logits(p, batch[0]), batch[1])
  masks = obd.obd_masks(params, ratios, [(xb, labels) for xb in x],
                             hessian, logits, loss, jax.random.key(2),
                             num_probes=4)
  sizes = dict(tree_paths.named_leaves(params))
  for name, count in cj.kept_counts(masks).items():
    assert count == cj.kept_count(sizes[name].size, 0.1)


def test_obd_masks_refuse_an_unknown_hessian():
  module, params, x = small_net_and_inputs()
  with pytest.raises(ValueError, match="hessian"):
    obd.obd_masks(params, cj.keep_ratio_tree(params, 0.1), [], "fisher")
