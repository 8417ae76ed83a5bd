"""Layer-wise optimal brain surgeon (Dong et al. 2017) for dense and conv layers.

For a layer with inputs x (conv: unfolded patches), H = (1/n) sum x x^T is the
Hessian of the layer-output error 0.5 |(W' - W)^T x|^2 averaged over inputs,
shared by all output units. A weight's saliency is w_q^2 / (2 [H^-1]_qq); the
layer keeps its most salient weights. Pruning the set Q of a unit's weights
and compensating the rest optimally (the multi-weight OBS step) leaves the
kept weights K at w'_K = (H_KK)^-1 (H w)_K, computed per output unit with a
Cholesky solve. H is damped by `damping * mean(diag H)` for stability.
"""

from typing import Any, Iterable, Sequence, Union

import flax.linen as nn

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import topk
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner
from coprune_jax.pruners._fixed import given_masks

PyTree = Any


def conv_patches(inputs: jax.Array, kernel_shape: Sequence[int],
                 strides: Sequence[int] = (1, 1),
                 padding: Union[str, Sequence[tuple[int, int]]] = "SAME"
                 ) -> jax.Array:
  """Unfolded input patches (N*H'*W', kh*kw*C), ordered like an HWIO kernel.

  `patches @ kernel.reshape(-1, out)` equals the convolution's output.
  """
  kh, kw, channels, _ = kernel_shape
  patches = jax.lax.conv_general_dilated_patches(
      inputs, (kh, kw), tuple(strides), padding,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  # The patch feature axis comes channel-major: (C, kh, kw) -> (kh, kw, C).
  patches = patches.reshape(patches.shape[:3] + (channels, kh, kw))
  patches = patches.transpose(0, 1, 2, 4, 5, 3)
  return patches.reshape(-1, kh * kw * channels)


def input_hessian(layer_inputs: jax.Array) -> jax.Array:
  """H = (1/n) X^T X for layer inputs X of shape (n, d)."""
  x = layer_inputs.reshape(layer_inputs.shape[0], -1).astype(jnp.float32)
  return x.T @ x / x.shape[0]


def lobs_prune(kernel: jax.Array, hessian: jax.Array, keep_ratio: float,
               damping: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
  """Prunes a kernel (any shape, last axis = output units) by L-OBS.

  Args:
    kernel: dense (d, out) or conv (kh, kw, c, out) weights.
    hessian: (d, d) input Hessian, d = prod(kernel.shape[:-1]).
    keep_ratio: fraction of the layer's weights kept (exact count).
    damping: relative damping added to the diagonal of H.

  Returns:
    (compensated kernel with pruned entries exactly 0, boolean mask).
  """
  shape = kernel.shape
  w = np.asarray(kernel, np.float64).reshape(-1, shape[-1])
  h = np.asarray(hessian, np.float64)
  if h.shape != (w.shape[0], w.shape[0]):
    raise ValueError(f"hessian has shape {h.shape}, expected "
                     f"{(w.shape[0], w.shape[0])} for a kernel of shape {shape}")
  h = h + damping * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(len(h))
  h_inverse_diag = np.diag(scipy.linalg.cho_solve(
      scipy.linalg.cho_factor(h), np.eye(len(h))))
  saliency = w**2 / (2 * h_inverse_diag[:, None])
  count = keep_ratios_lib.kept_count(w.size, keep_ratio)
  (mask,), = topk.top_count_masks([[jnp.asarray(saliency, jnp.float32)]],
                                  [count])
  mask = np.asarray(mask)
  hw = h @ w
  new_w = np.zeros_like(w)
  for unit in range(w.shape[1]):
    kept = np.flatnonzero(mask[:, unit])
    if kept.size:
      new_w[kept, unit] = scipy.linalg.cho_solve(
          scipy.linalg.cho_factor(h[np.ix_(kept, kept)]), hw[kept, unit])
  return (new_w.reshape(shape).astype(np.asarray(kernel).dtype),
          mask.reshape(shape))


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
        x = conv_patches(x, kernel_size + (x.shape[-1], layer.features),
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
    new_weight, mask = lobs_prune(weight, hessians[name], keep_ratio,
                                       damping)
    return jnp.asarray(mask), jnp.asarray(new_weight)

  pairs = tree_paths.map_with_names(prune, keep_ratios, params)
  is_pair = lambda x: isinstance(x, tuple) and len(x) == 2
  masks = jax.tree.map(lambda p: p[0], pairs, is_leaf=is_pair)
  new_params = jax.tree.map(lambda p: p[1], pairs, is_leaf=is_pair)
  return new_params, masks


def lobs(keep_ratios, *, damping: float = 1e-4,
         gradient: str = "masked") -> Pruner:
  """Layer-wise OBS as a one-shot pruner: the start prunes every Dense and
  Conv kernel of the calibration's Linen module by L-OBS on the
  calibration inputs and compensates the kept weights (`lobs_prune_model`);
  the masks then stay fixed while the kept weights retrain.
  """
  if not damping > 0:
    raise ValueError(f"damping must be > 0, got {damping!r}")

  def start_fn(params, keep_ratio_tree, calibration):
    if calibration.module is None:
      raise ValueError("L-OBS reads each layer's inputs: the calibration "
                       "needs the Flax Linen module")
    if calibration.model_state:
      raise ValueError("L-OBS here supports models without normalisation "
                       "state (CIFAR-Net, LeNet-5, MLP)")
    return lobs_prune_model(calibration.module, params,
                            (x for x, _ in calibration.batches()),
                            keep_ratio_tree, damping)

  return Pruner(keep_ratios, given_masks, update_every=0, gradient=gradient,
                start_fn=start_fn)
