import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coprune_jax.baselines import ddc
from coprune_jax.models import CifarNet, Classifier


@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
def test_head_inputs_are_the_penultimate_features_of_cifar_net():
  classifier = Classifier(CifarNet(9))
  params, state = classifier.init(0, (32, 32, 3))
  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  logits, _, features = ddc.logits_and_head_inputs(classifier.train_apply,
                                                   params, state, x)
  assert features.shape == (4, 64)  # fc1's output feeds fc2
  fc2 = params["fc2"]
  np.testing.assert_allclose(features @ fc2["kernel"] + fc2["bias"], logits,
                             rtol=1e-5, atol=1e-5)


def test_ddc_objective_adds_the_weighted_mmd_of_shifted_domains():
  classifier = Classifier(CifarNet(9))
  params, state = classifier.init(0, (32, 32, 3))
  keys = jax.random.split(jax.random.key(2), 2)
  source = (jax.random.normal(keys[0], (8, 32, 32, 3)), jnp.arange(8) % 9)
  target = (jax.random.normal(keys[1], (8, 32, 32, 3)) + 3.0,
            jnp.arange(8) % 9)
  plain = ddc.ddc_objective(classifier.train_apply, mmd_weight=0.0)
  weighted = ddc.ddc_objective(classifier.train_apply, mmd_weight=2.0)
  loss0, (_, m0) = plain(params, state, (source, target))
  loss2, (_, m2) = weighted(params, state, (source, target))
  assert float(m0["mmd"]) > 0.0
  np.testing.assert_allclose(loss2 - loss0, 2.0 * m0["mmd"], rtol=1e-4)
  np.testing.assert_allclose(m0["classification_loss"], loss0, rtol=1e-6)
