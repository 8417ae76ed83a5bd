"""Deep Compression after pruning: weight sharing, centroid fine-tuning,
Huffman coding (Han et al. 2016), with the size of each stage.

Sizes count the arrays a decoder needs, without container overhead:
- pruned: CSR positions (row pointers, column indices; see `sparse_file`)
  and float32 kept values;
- shared: the same positions, a `bits`-bit cluster index per kept weight and
  a float32 centroid table per layer;
- Huffman: Huffman-coded cluster indices and gaps between kept positions
  (row-major) instead of CSR, plus the code tables (a length byte per index
  symbol; a 4-byte value and a length byte per gap symbol);
- entropy bound: the indices and gaps at their empirical entropy.
Parameters without a mask count as dense float32 in every stage.
"""

import math
from typing import Any

import numpy as np

from coprune_jax.compression import huffman
from coprune_jax.compression import sparse_file
from coprune_jax.compression import weight_sharing
from coprune_jax.core import tree_paths
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.train import reparameterized

PyTree = Any


def stage_sizes(params: PyTree, masks: PyTree, shared: PyTree,
                bits: int) -> dict:
  """Bytes of each stage (see the module docstring) for one model."""
  dense = pruned = clustered = coded = bound = 0.0
  layers = weight_sharing.shared_layers(shared)
  mask_leaves = [m for _, m in tree_paths.named_leaves(masks, keep_none=True)]
  for (_, weight), mask, layer in zip(tree_paths.named_leaves(params),
                                      mask_leaves, layers):
    if mask is None:
      dense += 4 * np.size(weight)
      continue
    mask = np.asarray(mask, bool)
    kept = int(mask.sum())
    positions = sparse_file.csr_position_bytes(mask)
    centroids = 4 * 2 ** bits
    indices = np.asarray(layer.indices)[mask]
    gaps = huffman.position_gaps(mask)
    tables = (len(np.unique(indices)) + 5 * len(np.unique(gaps)))
    pruned += positions + 4 * kept
    clustered += positions + math.ceil(bits * kept / 8) + centroids
    coded += (math.ceil((huffman.huffman_bits(indices)
                         + huffman.huffman_bits(gaps)) / 8)
              + tables + centroids)
    bound += (huffman.entropy_bits(indices) + huffman.entropy_bits(gaps)) / 8 \
        + centroids
  return {"pruned": pruned + dense, "shared": clustered + dense,
          "huffman": coded + dense, "entropy_bound": bound + dense}


def finetune_centroids(classifier, weights: tuple, masks: PyTree,
                       shared: PyTree, train: pipeline.Split,
                       val: pipeline.Split, epochs: int, batch_size: int,
                       learning_rate: float, seed: int, progress=print):
  """Adam on the centroids only (indices and masks fixed), cross-entropy on
  `train`; returns the shared weights best on `val` and its accuracy."""
  params, model_state = weights

  def rebuilt(centroids):
    return weight_sharing.shared_params(
        params, weight_sharing.with_centroids(shared, centroids), masks)

  best, best_val = reparameterized.finetune_through(
      classifier, model_state, weight_sharing.centroid_tree(shared), rebuilt,
      train, val, epochs, batch_size, learning_rate, seed,
      progress=lambda line: progress(f"centroid {line}"), phase="centroids")
  return weight_sharing.with_centroids(shared, best), best_val
