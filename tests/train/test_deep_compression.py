import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.compression import weight_sharing
from coprune_jax.train import deep_compression
from coprune_jax.train import phases
from coprune_jax.train import run
from tests.pipeline_configs import tiny_config


def test_stage_sizes_of_a_hand_made_layer():
  weight = jnp.array([[0.0, 1.0, 0.0, 2.0], [3.0, 0.0, 0.0, 4.0]])
  params = {"w": weight, "b": jnp.zeros(3)}
  masks = {"w": weight != 0, "b": None}
  shared = weight_sharing.share_weights(params, masks, bits=1)
  sizes = deep_compression.stage_sizes(params, masks, shared, bits=1)
  dense = 4 * 3
  # CSR: 3 uint8 row pointers + 4 uint8 columns; values 4 x float32.
  assert sizes["pruned"] == 3 + 4 + 16 + dense
  # Same positions, 4 one-bit indices in one byte, 2 float32 centroids.
  assert sizes["shared"] == 3 + 4 + 1 + 8 + dense
  # Indices {1, 2 | 3, 4} -> 0 0 1 1: 4 Huffman bits; kept positions
  # 1 3 4 7 -> gaps 2 2 1 3: 6 bits; 10 bits -> 2 bytes. Tables: 2 index
  # lengths + 3 gap symbols x 5 bytes.
  assert sizes["huffman"] == 2 + 2 + 15 + 8 + dense
  assert sizes["entropy_bound"] == (4 + 6) / 8 + 8 + dense


@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
def test_centroid_fine_tuning_never_selects_worse_than_its_start():
  experiment = run.Experiment(tiny_config())
  weights = experiment.init_weights(0)
  ratios = cj.keep_ratio_tree(weights[0], 0.3)
  masks = cj.magnitude_masks(weights[0], ratios)
  shared = weight_sharing.share_weights(weights[0], masks, bits=2)
  data = experiment.data
  evaluate = phases.make_evaluator(experiment.classifier)
  start = evaluate((weight_sharing.shared_params(weights[0], shared, masks),
                    weights[1]), data.target_val)
  lines = []
  tuned, best_val = deep_compression.finetune_centroids(
      experiment.classifier, weights, masks, shared, data.target_train,
      data.target_val, 3, 10, 1e-2, 0, progress=lines.append)
  assert best_val >= start and len(lines) == 3
  rebuilt = weight_sharing.shared_params(weights[0], tuned, masks)
  assert evaluate((rebuilt, weights[1]), data.target_val) == best_val
  np.testing.assert_array_equal(shared["fc1"]["kernel"].indices,
                                tuned["fc1"]["kernel"].indices)


def test_entry_point_refuses_a_missing_model_file(tmp_path, capsys):
  from experiments import deep_compression as entry
  assert entry.main(["experiments/configs/offline_default.py",
                     "--model-file", str(tmp_path / "none.npz")]) == 2
  assert "no model file" in capsys.readouterr().err
