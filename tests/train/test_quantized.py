import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.train import phases
from coprune_jax.train import quantized
from coprune_jax.train import run
from tests.pipeline_configs import tiny_config


def test_quantized_bytes_of_a_hand_made_layer():
  weight = jnp.array([[0.0, 1.0, 0.0, 2.0], [3.0, 0.0, 0.0, 4.0]])
  params = {"w": weight, "b": jnp.zeros(3)}
  masks = {"w": weight != 0, "b": None}
  # CSR: 3 uint8 row pointers + 4 uint8 columns; a float32 scale; the
  # unmasked bias as float32.
  bits = quantized.index_bits("uniform", 4)
  assert quantized.quantized_bytes(params, masks, bits) == 3 + 4 + 2 + 4 + 12
  bits = quantized.index_bits("binary", None)
  assert quantized.quantized_bytes(params, masks, bits) == 3 + 4 + 1 + 4 + 12
  # float32 values need no scale.
  assert quantized.quantized_bytes(params, masks, 32, 0) == 3 + 4 + 16 + 12


# Uniform (~7 s) with the slow tests, for the default budget.
@pytest.mark.parametrize("method, bits", [
    pytest.param("uniform", 2, marks=pytest.mark.slow), ("binary", None)])
def test_quantization_aware_fine_tuning_selects_a_quantized_pruned_model(
    method, bits):
  experiment = run.Experiment(tiny_config())
  weights = experiment.init_weights(0)
  masks = cj.magnitude_masks(weights[0], cj.keep_ratio_tree(weights[0], 0.3))
  data = experiment.data
  evaluate = phases.make_evaluator(experiment.classifier)
  start = evaluate((quantized.quantized(weights[0], masks, method, bits),
                    weights[1]), data.target_val)
  lines = []
  tuned, best_val = quantized.finetune_quantized(
      experiment.classifier, weights, masks, data.target_train,
      data.target_val, method, bits, 3, 10, 1e-2, 0, progress=lines.append)
  assert best_val >= start and len(lines) == 3
  assert evaluate((tuned, weights[1]), data.target_val) == best_val
  kernel, mask = tuned["fc1"]["kernel"], masks["fc1"]["kernel"]
  assert np.all(np.asarray(kernel)[~np.asarray(mask)] == 0)
  # Kept weights take at most 2^bits - 1 values (2 signs for binary).
  assert len(np.unique(np.asarray(kernel)[np.asarray(mask)])) <= (
      2 if method == "binary" else 3)
  # The shadow weights learn: the training loss falls (lines: "... loss L,").
  # Binary signs of this untrained tiny net move the loss by noise only.
  losses = [float(line.split("loss ")[1].split(",")[0]) for line in lines]
  if method != "binary":
    assert losses[-1] < losses[0]
