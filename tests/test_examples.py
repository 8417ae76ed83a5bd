import jax.numpy as jnp
import pytest

import coprune_jax as cj
from examples import coprune_nnx
from examples import magnitude_pruning


def test_magnitude_pruning_example_learns_with_a_tenth_of_the_weights():
  accuracy, kept = magnitude_pruning.main(steps=150)
  assert kept == {"layers_0/kernel": cj.kept_count(20 * 64, 0.1),
                  "layers_2/kernel": cj.kept_count(64 * 2, 0.1)}
  assert accuracy > 0.9  # a linear rule of 5 inputs; chance is 0.5


@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
def test_coprune_nnx_example_prunes_a_batchnorm_model_that_learns():
  accuracy, kept, stats = coprune_nnx.main(steps=100)
  assert kept == {"conv/kernel": cj.kept_count(3 * 3 * 16, 0.2),
                  "fc/kernel": cj.kept_count(16 * 2, 0.2)}
  assert accuracy > 0.8  # chance is 0.5
  # The training steps carried BatchNorm's running statistics.
  assert float(jnp.abs(stats["norm"]["mean"][...]).max()) > 0.01
