"""Pruned dense layers that compute with their kept weights only.

A masked kernel (n_in, n_out) is stored per output column: the row indices
of its kept weights and their values, padded to the longest column
("ELLPACK" by columns). `x @ W` is then one gather of the kept inputs and a
short sum per output, no scatter:

  y[b, j] = sum_l x[b, indices[j, l]] * values[j, l]

At 1% kept a 576 x 64 kernel needs ~6 multiplies per output instead of
576. Padding costs where the kept counts of columns differ a lot.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class PaddedColumns(NamedTuple):
  """A sparse (n_in, n_out) kernel: per output, kept rows and values."""
  indices: jax.Array  # int32 (n_out, longest column); padding points at row 0
  values: jax.Array  # (n_out, longest column); padding is 0


def padded_columns(kernel, mask) -> PaddedColumns:
  """The kept weights of a 2-D kernel (inputs, outputs), column by column."""
  kernel, mask = np.asarray(kernel), np.asarray(mask, bool)
  if kernel.ndim != 2 or kernel.shape != mask.shape:
    raise ValueError(f"need a 2-D kernel and a mask of its shape, got "
                     f"{kernel.shape} and {mask.shape}")
  per_column = [np.flatnonzero(mask[:, j]) for j in range(kernel.shape[1])]
  longest = max(1, max(len(rows) for rows in per_column))
  indices = np.zeros((kernel.shape[1], longest), np.int32)
  values = np.zeros((kernel.shape[1], longest), kernel.dtype)
  for j, rows in enumerate(per_column):
    indices[j, :len(rows)] = rows
    values[j, :len(rows)] = kernel[rows, j]
  return PaddedColumns(jnp.asarray(indices), jnp.asarray(values))


def sparse_matmul(x: jax.Array, kernel: PaddedColumns) -> jax.Array:
  """x (batch, n_in) @ the sparse kernel -> (batch, n_out); jittable."""
  return jnp.einsum("bjl,jl->bj", x[:, kernel.indices], kernel.values)
