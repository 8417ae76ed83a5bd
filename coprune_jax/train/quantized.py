"""Quantizing a pruned model: quantization-aware fine-tuning and its size.

The pruned model's kept weights are quantized (`coprune_jax.compression.quantization`;
pruned weights stay zero); fine-tuning trains the real-valued weights
through the straight-through estimator, with BinaryConnect's clip for
binary weights, and keeps the epoch best on validation.

Sizes count what a decoder needs, without container overhead: CSR positions
of the kept weights, `bits` per kept weight (1 for binary) and one float32
scale per quantized layer; parameters without a mask count as float32.
"""

import math
from typing import Any, Optional

import numpy as np

from coprune_jax.compression import quantization
from coprune_jax.compression import sparse_file
from coprune_jax.core import tree_paths
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.train import reparameterized

PyTree = Any


def index_bits(method: str, bits: Optional[int]) -> int:
  """Bits stored per kept weight."""
  return 1 if method == "binary" else bits


def quantized(params: PyTree, masks: PyTree, method: str,
              bits: Optional[int]) -> PyTree:
  """The model a decoder rebuilds: kept weights quantized, pruned ones zero
  (binary weights scaled by their layer's mean kept magnitude)."""
  return quantization.quantize_params(params, method, bits, scaled=True,
                                      straight_through=False, masks=masks)


def quantized_bytes(params: PyTree, masks: PyTree, bits_per_weight: int,
                    scale_bytes: int = 4) -> int:
  """Bytes of a pruned model (see the module docstring) storing each kept
  weight in `bits_per_weight` bits (`index_bits`) and `scale_bytes` per
  masked layer (0 for float32 values)."""
  total = 0
  for (_, weight), (_, mask) in zip(
      tree_paths.named_leaves(params),
      tree_paths.named_leaves(masks, keep_none=True)):
    if mask is None:
      total += 4 * np.size(weight)
      continue
    kept = int(np.sum(mask))
    total += (sparse_file.csr_position_bytes(mask)
              + math.ceil(bits_per_weight * kept / 8) + scale_bytes)
  return total


def finetune_quantized(classifier, weights: tuple, masks: PyTree,
                       train: pipeline.Split, val: pipeline.Split,
                       method: str, bits: Optional[int], epochs: int,
                       batch_size: int, learning_rate: float, seed: int,
                       progress=print) -> tuple[PyTree, float]:
  """Quantization-aware fine-tuning of a pruned model with fixed masks.

  Returns the quantized params (`quantized`) of the epoch best on `val`
  (post-training quantization if no epoch beats it) and that accuracy.
  """
  params, model_state = weights
  if method == "binary":
    # BinaryConnect's shadow weights live in [-1, 1].
    params = quantization.clip_shadow_weights(params, select=masks)
    project = lambda p: quantization.clip_shadow_weights(p, select=masks)
  else:
    project = lambda p: p
  best, best_val = reparameterized.finetune_through(
      classifier, model_state, params,
      lambda p: quantization.quantize_params(p, method, bits, scaled=True,
                                             masks=masks),
      train, val, epochs, batch_size, learning_rate, seed, project,
      progress=lambda line: progress(f"{method} {bits or 1}-bit {line}"),
      phase=f"quantized_{method}_{bits or 1}")
  return quantized(best, masks, method, bits), best_val
