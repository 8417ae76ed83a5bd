import coprune_jax as cj
from examples import magnitude_pruning


def test_magnitude_pruning_example_learns_with_a_tenth_of_the_weights():
  accuracy, kept = magnitude_pruning.main(steps=150)
  assert kept == {"layers_0/kernel": cj.kept_count(20 * 64, 0.1),
                  "layers_2/kernel": cj.kept_count(64 * 2, 0.1)}
  assert accuracy > 0.9  # a linear rule of 5 inputs; chance is 0.5
