"""One-shot masks of the retrain-with-fixed-mask baselines: OBD and L-OBS.

Both read the target's training data once, return new masks (and for L-OBS
compensated params), and are followed by fixed-mask retraining
(`masked_training` without straight-through gradient). LWC is
`magnitude_masks` followed by the same retraining.
"""

from typing import Any, Callable, Iterable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from coprune_jax.baselines import lobs
from coprune_jax.baselines import obd
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths

PyTree = Any


def obd_masks(params: PyTree, keep_ratios: PyTree, batches: Iterable,
              hessian: str = "gauss_newton",
              logits_fn: Optional[Callable[[PyTree, jax.Array], jax.Array]] = None,
              loss_fn: Optional[Callable[[PyTree, Any], jax.Array]] = None,
              key: Optional[jax.Array] = None, num_probes: int = 32) -> PyTree:
  """Keeps the weights of largest saliency 0.5 h w^2.

  h, averaged over `batches` of (inputs, labels): with hessian="gauss_newton"
  the Gauss-Newton diagonal of cross-entropy through `logits_fn(params,
  inputs)`; with "hutchinson" the estimate of the Hessian of
  `loss_fn(params, batch)` from `num_probes` probes per batch (needs `key`).
  """
  if hessian not in ("gauss_newton", "hutchinson"):
    raise ValueError(f"hessian must be 'gauss_newton' or 'hutchinson', got "
                     f"{hessian!r}")
  total, count = None, 0
  for batch in batches:
    if hessian == "gauss_newton":
      diag = obd.gauss_newton_diagonal(logits_fn, params, batch[0])
    else:
      key, batch_key = jax.random.split(key)
      diag = obd.hessian_diagonal(lambda p: loss_fn(p, batch), params,
                                  batch_key, num_probes)
    total = diag if total is None else jax.tree.map(jnp.add, total, diag)
    count += 1
  if count == 0:
    raise ValueError("obd_masks needs at least one batch")
  hessian_diag = jax.tree.map(lambda h: h / count, total)
  return masks_lib.score_masks(obd.obd_saliency(params, hessian_diag),
                               keep_ratios)


def _conv_padding(padding, kernel_size):
  if isinstance(padding, int):
    return [(padding, padding)] * len(kernel_size)
  if isinstance(padding, str):
    return padding
  return [tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in padding]


def layer_input_hessians(module: nn.Module, params: PyTree,
                         batches: Iterable) -> dict[str, jax.Array]:
  """{"<layer>/kernel": H} for every Dense and Conv layer of a Linen module.

  H = (1/n) sum x x^T over the layer's inputs (for convs, unfolded patches in
  the kernel's order), accumulated over `batches` of inputs.
  """
  sums, counts = {}, {}

  def capture(next_fun, args, kwargs, context):
    layer = context.module
    if context.method_name == "__call__" and isinstance(layer, (nn.Dense,
                                                                nn.Conv)):
      name = "/".join(layer.path) + "/kernel"
      x = args[0]
      if isinstance(layer, nn.Conv):
        kernel_size = tuple(layer.kernel_size)
        strides = layer.strides or (1,) * len(kernel_size)
        strides = (strides,) * len(kernel_size) if isinstance(strides, int) else strides
        x = lobs.conv_patches(x, kernel_size + (x.shape[-1], layer.features),
                              strides, _conv_padding(layer.padding, kernel_size))
      x = x.reshape(-1, x.shape[-1]).astype(jnp.float32)
      sums[name] = sums.get(name, 0.0) + x.T @ x
      counts[name] = counts.get(name, 0) + x.shape[0]
    return next_fun(*args, **kwargs)

  for inputs in batches:
    with nn.intercept_methods(capture):
      module.apply({"params": params}, inputs)
  return {name: sums[name] / counts[name] for name in sums}


def lobs_prune_model(module: nn.Module, params: PyTree, batches: Iterable,
                     keep_ratios: PyTree, damping: float = 1e-4
                     ) -> tuple[PyTree, PyTree]:
  """L-OBS every pruned Dense/Conv kernel; returns (params, masks)."""
  hessians = layer_input_hessians(module, params, batches)

  def prune(name, keep_ratio, weight):
    if keep_ratio is None:
      return None, weight
    if name not in hessians:
      raise ValueError(f"parameter '{name}' is not the kernel of a Dense or "
                       f"Conv layer; L-OBS cannot prune it")
    new_weight, mask = lobs.lobs_prune(weight, hessians[name], keep_ratio,
                                       damping)
    return jnp.asarray(mask), jnp.asarray(new_weight)

  pairs = tree_paths.map_with_names(prune, keep_ratios, params)
  is_pair = lambda x: isinstance(x, tuple) and len(x) == 2
  masks = jax.tree.map(lambda p: p[0], pairs, is_leaf=is_pair)
  new_params = jax.tree.map(lambda p: p[1], pairs, is_leaf=is_pair)
  return new_params, masks
