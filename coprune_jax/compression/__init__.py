"""Compression after pruning: quantization, weight sharing, Huffman sizes,
sparse export and sparse inference."""

from coprune_jax.compression.quantization import clip_shadow_weights
from coprune_jax.compression.quantization import quantize_params
from coprune_jax.compression.sparse_file import load_pruned
from coprune_jax.compression.sparse_file import save_pruned
from coprune_jax.compression.weight_sharing import share_weights
from coprune_jax.compression.weight_sharing import shared_params
