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
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import coprune_jax as cj
from coprune_jax import huffman
from coprune_jax import sparse_file
from coprune_jax import tree_paths
from coprune_jax import weight_sharing
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.train import phases

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
    csr = sparse_file.encode_csr(np.asarray(weight), mask)
    positions = csr["row_pointers"].nbytes + csr["columns"].nbytes
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
  evaluate = phases.make_evaluator(classifier)
  adam = optax.adam(learning_rate)

  def rebuilt(centroids):
    return weight_sharing.shared_params(
        params, weight_sharing.with_centroids(shared, centroids), masks)

  @jax.jit
  def step(centroids, opt_state, batch):
    def loss_fn(c):
      logits, _ = classifier.train_apply(rebuilt(c), model_state, batch[0])
      return cj.cross_entropy_loss(logits, batch[1])
    loss, grads = jax.value_and_grad(loss_fn)(centroids)
    updates, opt_state = adam.update(grads, opt_state, centroids)
    return optax.apply_updates(centroids, updates), opt_state, loss

  centroids = weight_sharing.centroid_tree(shared)
  opt_state = adam.init(centroids)
  best, best_val = centroids, evaluate((rebuilt(centroids), model_state), val)
  rng = np.random.default_rng(seed)
  for epoch in range(epochs):
    start, losses = time.monotonic(), []
    for batch in pipeline.batches(train, min(batch_size, len(train)), rng,
                                  train=True):
      centroids, opt_state, loss = step(centroids, opt_state, batch)
      losses.append(float(loss))
    val_accuracy = evaluate((rebuilt(centroids), model_state), val)
    if val_accuracy > best_val:
      best, best_val = jax.tree.map(jnp.copy, centroids), val_accuracy
    progress(f"centroid epoch {epoch + 1}/{epochs}: loss "
             f"{np.mean(losses):.4f}, val {val_accuracy:.4f} "
             f"({time.monotonic() - start:.1f} s)")
  return weight_sharing.with_centroids(shared, best), best_val
