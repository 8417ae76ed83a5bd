"""Pruned dense layers that compute with their kept weights only.

A masked kernel (n_in, n_out) is stored per output column: the row indices
of its kept weights and their values, padded to the longest column
("ELLPACK" by columns). `x @ W` is then one gather of the kept inputs and a
short sum per output, no scatter:

  y[b, j] = sum_l x[b, indices[j, l]] * values[j, l]

At 1% kept a 576 x 64 kernel needs ~6 multiplies per output instead of
576. Padding costs where the kept counts of columns differ a lot (a
magnitude mask of LeNet-5's 400 x 120 kernel at 1.35% keeps 1-12 weights
per column, 5.4 on average), so the columns are sorted by their counts and
split into a few groups, each padded to its own longest column; one gather
puts the outputs back in order. On CPU four groups took the batch-1
compute of LeNet-5's fully connected layers from 4.2 to 2.2 us
(`experiments/bench_sparse_inference.py`).
"""

from typing import Any, Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from coprune_jax.core import straight_through


class PaddedColumns(NamedTuple):
  """A sparse (n_in, n_out) kernel: per output, kept rows and values, the
  outputs in groups of similar kept counts."""
  # Per group, int32 (outputs in the group, its longest column); padding
  # points at row 0.
  indices: tuple[jax.Array, ...]
  values: tuple[jax.Array, ...]  # per group, as `indices`; padding is 0
  # int32 (n_out,): where each output sits in the groups' concatenation.
  order: jax.Array


def padded_columns(kernel, mask, groups: int = 4) -> PaddedColumns:
  """The kept weights of a 2-D kernel (inputs, outputs), column by column,
  in `groups` groups of columns of similar kept counts."""
  kernel, mask = np.asarray(kernel), np.asarray(mask, bool)
  if kernel.ndim != 2 or kernel.shape != mask.shape:
    raise ValueError(f"need a 2-D kernel and a mask of its shape, got "
                     f"{kernel.shape} and {mask.shape}")
  if groups < 1:
    raise ValueError(f"groups must be >= 1, got {groups}")
  by_count = np.argsort(-mask.sum(0), kind="stable")
  indices, values = [], []
  for columns in np.array_split(by_count, min(groups, kernel.shape[1])):
    rows = [np.flatnonzero(mask[:, j]) for j in columns]
    longest = max(1, max(len(r) for r in rows))
    group_indices = np.zeros((len(columns), longest), np.int32)
    group_values = np.zeros((len(columns), longest), kernel.dtype)
    for i, (j, r) in enumerate(zip(columns, rows)):
      group_indices[i, :len(r)] = r
      group_values[i, :len(r)] = kernel[r, j]
    indices.append(jnp.asarray(group_indices))
    values.append(jnp.asarray(group_values))
  order = np.argsort(by_count).astype(np.int32)
  return PaddedColumns(tuple(indices), tuple(values), jnp.asarray(order))


def sparse_matmul(x: jax.Array, kernel: PaddedColumns) -> jax.Array:
  """x (batch, n_in) @ the sparse kernel -> (batch, n_out); jittable."""
  y = jnp.concatenate([jnp.einsum("bjl,jl->bj", x[:, i], v)
                       for i, v in zip(kernel.indices, kernel.values)],
                      axis=1)
  return y[:, kernel.order]


def sparse_dense_model(model: nn.Module, params, masks, groups: int = 4,
                       model_state: Optional[dict] = None
                       ) -> Callable[..., Any]:
  """`apply(inputs, *args, **kwargs)` of a Linen `model` whose masked 2-D
  `nn.Dense` kernels compute from their kept weights alone (`sparse_matmul`).

  Every other parameter is used dense, its mask applied (convolutions
  stay dense). The converted layers' dense kernels are not held: `apply`
  keeps only their kept weights, which it closes over (jit it). The Dense
  calls are intercepted by their module path, so the model must use
  `flax.linen.Dense` for them; its `dtype` and `precision` are not applied.
  """
  flat_params = traverse_util.flatten_dict(params)
  flat_masks = traverse_util.flatten_dict(masks)
  dense_params = traverse_util.flatten_dict(
      straight_through.apply_masks(params, masks, straight_through=False))
  layers = {}  # module path -> (PaddedColumns, bias or None)
  for path, kernel in flat_params.items():
    mask = flat_masks.get(path)
    if path[-1] == "kernel" and mask is not None and kernel.ndim == 2:
      layer = path[:-1]
      bias = dense_params.pop(layer + ("bias",), None)
      dense_params.pop(path)
      layers[layer] = (padded_columns(kernel, mask, groups), bias)
  variables = {"params": traverse_util.unflatten_dict(dense_params),
               **(model_state or {})}

  def sparse_dense(next_fun, args, kwargs, context):
    module = context.module
    if (context.method_name != "__call__" or not isinstance(module, nn.Dense)
        or module.path not in layers):
      return next_fun(*args, **kwargs)
    kernel, bias = layers[module.path]
    inputs = args[0]
    y = sparse_matmul(inputs.reshape(-1, inputs.shape[-1]), kernel)
    y = y.reshape(inputs.shape[:-1] + y.shape[-1:])
    return y if bias is None else y + bias

  def apply(inputs, *args, **kwargs):
    with nn.intercept_methods(sparse_dense):
      return model.apply(variables, inputs, *args, **kwargs)
  return apply
