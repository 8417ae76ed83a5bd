"""Weight quantization with straight-through gradients.

- Uniform k-bit: symmetric, per parameter, 2^(k-1) - 1 levels on each side
  of zero with step max|W| / (2^(k-1) - 1), so zero (a pruned weight) stays
  exactly zero and the kernel is stored as k-bit integers plus one scale.
- BinaryConnect (Courbariaux et al. 2015): the forward pass uses sign(W)
  (times an optional per-parameter scale, mean |W|), the real-valued shadow
  weights W get the gradient of the binarized ones and are clipped to
  [-1, 1] after each update (`clip_shadow_weights`).

Both are pure functions of parameter pytrees; `quantize_params` applies one
to every weight kernel (or to the leaves a mask or keep-ratio tree selects)
inside a loss function, so training code differentiates through it. Given a
pruned model's masks, pruned weights stay exactly zero and do not count in
the scale (binary) or the step (uniform): quantization after pruning.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from coprune_jax.core import tree_paths

PyTree = Any


def _straight_through(quantize: Callable[..., jax.Array]):
  """`quantize` in the forward pass; backward, the identity's gradient (the
  mask's, for a masked weight: pruned weights get none)."""

  def forward(weight, mask):
    kept = weight if mask is None else weight * mask
    # Adding a stopped-gradient difference is jax's idiom for the STE.
    return kept + jax.lax.stop_gradient(quantize(weight, mask) - kept)

  return forward


def uniform_levels(bits: int) -> int:
  """Positive levels of symmetric uniform `bits`-bit quantization.

  >>> [uniform_levels(b) for b in (2, 4, 8)]
  [1, 7, 127]
  """
  if not isinstance(bits, int) or bits < 2:
    raise ValueError(f"bits must be an integer >= 2, got {bits!r}")
  return 2 ** (bits - 1) - 1


def uniform_quantize(weight: jax.Array, bits: int) -> jax.Array:
  """Rounds `weight` to the nearest of 2^bits - 1 symmetric levels (no STE)."""
  levels = uniform_levels(bits)
  largest = jnp.max(jnp.abs(weight))
  step = jnp.where(largest > 0, largest / levels, 1.0)
  return jnp.clip(jnp.round(weight / step), -levels, levels) * step


def binarize(weight: jax.Array, scaled: bool = False,
             mask: Optional[jax.Array] = None) -> jax.Array:
  """sign(W) with sign(0) = +1, times mean |W| if `scaled` (no STE).

  With a `mask`, pruned entries are 0 and the mean runs over kept entries.
  """
  signs = jnp.where(weight >= 0, 1.0, -1.0).astype(weight.dtype)
  if mask is None:
    return signs * jnp.mean(jnp.abs(weight)) if scaled else signs
  kept = mask.astype(weight.dtype)
  signs = signs * kept
  if not scaled:
    return signs
  scale = jnp.sum(jnp.abs(weight) * kept) / jnp.maximum(jnp.sum(kept), 1.0)
  return signs * scale


def _quantizer(method: str, bits: Optional[int], scaled: bool):
  """`quantize(weight, mask or None)`; masked weights are zeroed first."""
  if method == "uniform":
    uniform_levels(bits)  # validates early, outside jit
    return lambda w, m: uniform_quantize(w if m is None else w * m, bits)
  if method == "binary":
    return lambda w, m: binarize(w, scaled, m)
  raise ValueError(f"method must be 'uniform' or 'binary', got {method!r}")


def _selection(params: PyTree, select: Optional[PyTree]) -> PyTree:
  """`select`, checked against `params`; by default every weight kernel."""
  if select is None:
    return tree_paths.map_with_names(
        lambda name, w: w if tree_paths.is_weight_kernel(name, w) else None,
        params)
  tree_paths.check_same_layout(select, params, "select", "params",
                               compare_shapes=False)
  return select


def quantize_params(params: PyTree, method: str = "uniform",
                    bits: Optional[int] = 8, scaled: bool = False,
                    select: Optional[PyTree] = None,
                    straight_through: bool = True,
                    masks: Optional[PyTree] = None) -> PyTree:
  """Quantized copy of `params` for a forward pass.

  Args:
    params: any parameter pytree.
    method: "uniform" (`bits`-bit) or "binary" (BinaryConnect; `scaled`
      multiplies the signs by mean |W|).
    select: a tree like `params` (e.g. masks or keep ratios) whose non-None
      leaves say which parameters to quantize; default: every weight kernel
      (floating, ndim >= 2).
    straight_through: backward pass as if unquantized (training); without
      it, jax differentiates the rounding itself (zero almost everywhere).
    masks: a pruned model's masks (None leaves: unpruned); the masked
      leaves are quantized with their pruned weights held at zero. Also
      the default `select`.
  """
  quantize = _quantizer(method, bits, scaled)
  if straight_through:
    quantize = _straight_through(quantize)
  if masks is None:
    masks = jax.tree.map(lambda _: None, params)
  else:
    tree_paths.check_same_layout(masks, params, "masks", "params")
    select = masks if select is None else select
  return tree_paths.map_with_names(
      lambda _, chosen, m, w: w if chosen is None else quantize(w, m),
      _selection(params, select), masks, params)


def clip_shadow_weights(params: PyTree, select: Optional[PyTree] = None,
                        limit: float = 1.0) -> PyTree:
  """BinaryConnect's clip of the real-valued weights to [-limit, limit].

  Applied after each optimizer update to the leaves `quantize_params`
  binarizes (same `select` rule), so that shadow weights cannot drift
  beyond where their sign can still flip.
  """
  return tree_paths.map_with_names(
      lambda _, chosen, w: w if chosen is None else jnp.clip(w, -limit, limit),
      _selection(params, select), params)
