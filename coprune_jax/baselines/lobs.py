"""Layer-wise optimal brain surgeon (Dong et al. 2017) for dense and conv layers.

For a layer with inputs x (conv: unfolded patches), H = (1/n) sum x x^T is the
Hessian of the layer-output error 0.5 |(W' - W)^T x|^2 averaged over inputs,
shared by all output units. A weight's saliency is w_q^2 / (2 [H^-1]_qq); the
layer keeps its most salient weights. Pruning the set Q of a unit's weights
and compensating the rest optimally (the multi-weight OBS step) leaves the
kept weights K at w'_K = (H_KK)^-1 (H w)_K, computed per output unit with a
Cholesky solve. H is damped by `damping * mean(diag H)` for stability.
"""

from typing import Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import topk


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
