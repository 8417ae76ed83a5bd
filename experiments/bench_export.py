"""Benchmark: bytes on disk of a pruned CIFAR-Net, sparse vs dense files.

For the reference 1.35% and our 10.4% per-layer keep ratios, writes the
magnitude-pruned CIFAR-Net (10 classes) with `coprune_jax.compression.sparse_file` as
bitmask and as CSR, and the same params as a dense file, and prints bytes on
disk beside two references: every parameter as float32, and the entropy bound
of the encoding, log2(n choose k) bits for the positions of the k kept
weights of each masked parameter plus 32 bits per stored value. Sizes do not
depend on the weights' values (the files are not entropy-coded), so the
model is freshly initialised.

  python experiments/bench_export.py
"""

import argparse
import datetime
import math
import os
import platform
import tempfile

import jax
import jax.numpy as jnp

import coprune_jax as cj
from coprune_jax.compression import sparse_file
from coprune_jax.models import CifarNet
from coprune_jax.train import protocol

SETTINGS = [("1.35%", protocol.CIFAR_NET_KEEP_RATIOS_1_35),
            ("10.4%", protocol.CIFAR_NET_KEEP_RATIOS_10_4)]


def log2_binomial(n: int, k: int) -> float:
  return (math.lgamma(n + 1) - math.lgamma(k + 1)
          - math.lgamma(n - k + 1)) / math.log(2)


def entropy_bound_bytes(params, masks) -> float:
  """Positions of the kept weights at log2(n choose k) bits, values at 32."""
  bits = 0.0
  for (_, weight), mask in zip(cj.tree_paths.named_leaves(params),
                               jax.tree.leaves(masks, is_leaf=lambda x: x is None)):
    if mask is None:
      bits += 32 * weight.size
    else:
      kept = int(jnp.sum(mask))
      bits += log2_binomial(mask.size, kept) + 32 * kept
  return bits / 8


def main():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default=None,
                      help="folder for the files (default: a temporary one)")
  args = parser.parse_args()
  out = args.out or tempfile.mkdtemp(prefix="bench_export_")
  params = CifarNet(num_classes=10).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  dense_masks = jax.tree.map(lambda _: None, params)
  dense = sparse_file.save_pruned(os.path.join(out, "dense.npz"), params,
                                  dense_masks)
  print(f"# {datetime.date.today()}, {platform.node()}, "
        f"{jax.devices()[0].device_kind}, JAX {jax.__version__}")
  print(f"CIFAR-Net (10 classes), {dense['dense_float32_bytes']:,} bytes as "
        f"float32; dense file {dense['bytes']:,} bytes\n")
  print("| kept | encoding | file bytes | x smaller than dense file "
        "| entropy bound bytes | file / bound |")
  print("|---|---|---|---|---|---|")
  for name, rules in SETTINGS:
    masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, rules))
    bound = entropy_bound_bytes(params, masks)
    for encoding in sparse_file.ENCODINGS:
      sizes = sparse_file.save_pruned(
          os.path.join(out, f"{name}_{encoding}.npz"), params, masks, encoding)
      kept = sizes["kept_weights"] / sizes["masked_weights"]
      print(f"| {name} ({kept:.4%} of kernels) | {encoding} "
            f"| {sizes['bytes']:,} | {dense['bytes'] / sizes['bytes']:.1f}x "
            f"| {bound:,.0f} | {sizes['bytes'] / bound:.2f} |")
  print(f"\nfiles in {out}")


if __name__ == "__main__":
  main()
