"""A pruned model as a truly smaller file: bitmask or CSR encoding.

Dense arrays times masks are as large as the dense model. Here a masked
parameter keeps only its kept values and where they are:

- "bitmask": one bit per weight (`np.packbits`, row-major) and the kept
  values in row-major order.
- "csr": the parameter seen as a matrix whose columns are its last axis (a
  Dense kernel's outputs, a conv kernel's output channels) and rows all the
  leading axes, stored as row pointers, column indices and values; pointers
  and indices use the smallest unsigned integer type that holds them.
- "N:M", e.g. "2:4": masks with N kept in every M consecutive inputs (axis
  -2, see `pruners.n_of_m`) as the kept values and, per value, its position
  in its group in ceil(log2 M) bits (2:4: half the values plus 1/16 byte
  per weight).

Parameters without a mask (biases, norm scales) are stored dense. The file is
an uncompressed `.npz`, so its size is the encoding's size plus the zip
headers (about 150 bytes per stored array); values keep their dtype.
"""

import json
import math
import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths

PyTree = Any
ENCODINGS = ("bitmask", "csr")
_META = "__meta__"


def _smallest_uint(largest: int) -> np.dtype:
  for dtype in (np.uint8, np.uint16, np.uint32):
    if largest <= np.iinfo(dtype).max:
      return np.dtype(dtype)
  return np.dtype(np.uint64)


def _matrix_shape(shape: tuple) -> tuple[int, int]:
  columns = shape[-1] if shape else 1
  return math.prod(shape) // max(columns, 1), columns


def _as_matrix(array: np.ndarray) -> np.ndarray:
  return array.reshape(_matrix_shape(array.shape))


def encode_bitmask(weight: np.ndarray, mask: np.ndarray) -> dict:
  """{"bits": packed mask bits (uint8), "values": kept weights, row-major}."""
  return {"bits": np.packbits(mask.ravel()), "values": weight[mask]}


def decode_bitmask(parts: dict, shape: tuple) -> np.ndarray:
  size = math.prod(shape)
  mask = np.unpackbits(parts["bits"], count=size).astype(bool)
  weight = np.zeros(size, parts["values"].dtype)
  weight[mask] = parts["values"]
  return weight.reshape(shape)


def encode_csr(weight: np.ndarray, mask: np.ndarray) -> dict:
  """Compressed sparse rows of the (leading axes, last axis) matrix."""
  matrix_mask = _as_matrix(mask)
  _, columns = np.nonzero(matrix_mask)  # row-major order, like the values
  row_pointers = np.concatenate([[0], np.cumsum(matrix_mask.sum(axis=1))])
  return {"row_pointers": row_pointers.astype(_smallest_uint(len(columns))),
          "columns": columns.astype(_smallest_uint(matrix_mask.shape[1] - 1)),
          "values": _as_matrix(weight)[matrix_mask]}


def csr_position_bytes(mask: np.ndarray) -> int:
  """Bytes of the CSR row pointers and column indices of a mask."""
  mask = np.asarray(mask, bool)
  csr = encode_csr(np.zeros(mask.shape, np.uint8), mask)
  return csr["row_pointers"].nbytes + csr["columns"].nbytes


def decode_csr(parts: dict, shape: tuple) -> np.ndarray:
  rows, columns = _matrix_shape(shape)
  weight = np.zeros((rows, columns), parts["values"].dtype)
  row_of_entry = np.repeat(np.arange(rows),
                           np.diff(parts["row_pointers"].astype(np.int64)))
  weight[row_of_entry, parts["columns"].astype(np.int64)] = parts["values"]
  return weight.reshape(shape)


def _position_bits(m: int) -> int:
  return max(1, (m - 1).bit_length())


def _groups(array: np.ndarray, m: int) -> np.ndarray:
  """(groups, m): m consecutive entries along axis -2 per row."""
  return np.moveaxis(array, -2, -1).reshape(-1, m)


def encode_n_of_m(weight: np.ndarray, mask: np.ndarray, n: int,
                  m: int) -> dict:
  """{"positions": each kept value's place in its group, packed bits;
  "values": the kept weights, group after group}."""
  if mask.ndim < 2 or mask.shape[-2] % m:
    raise ValueError(f"a {n}:{m} encoding needs kernels whose input "
                     f"dimension (axis -2) divides by {m}, got {mask.shape}")
  groups_mask = _groups(mask, m)
  if not (groups_mask.sum(axis=1) == n).all():
    raise ValueError(f"mask is not a {n}:{m} pattern (see pruners.n_of_m)")
  positions = np.nonzero(groups_mask)[1]
  bits = _position_bits(m)
  place_values = 1 << np.arange(bits - 1, -1, -1)
  position_bits = (positions[:, None] & place_values) > 0
  return {"positions": np.packbits(position_bits.ravel()),
          "values": _groups(weight, m)[groups_mask]}


def decode_n_of_m(parts: dict, shape: tuple, n: int, m: int) -> np.ndarray:
  num_groups = math.prod(shape) // m
  bits = _position_bits(m)
  position_bits = np.unpackbits(parts["positions"],
                                count=num_groups * n * bits)
  positions = position_bits.reshape(-1, bits) @ (
      1 << np.arange(bits - 1, -1, -1))
  groups = np.zeros((num_groups, m), parts["values"].dtype)
  groups[np.repeat(np.arange(num_groups), n), positions] = parts["values"]
  moved = groups.reshape(shape[:-2] + (shape[-1], shape[-2]))
  return np.moveaxis(moved, -1, -2)


def _codec(encoding: str):
  """(encode, decode) of an encoding's name."""
  if encoding == "bitmask":
    return encode_bitmask, decode_bitmask
  if encoding == "csr":
    return encode_csr, decode_csr
  n, _, m = encoding.partition(":") if isinstance(encoding, str) else ("",) * 3
  if n.isdigit() and m.isdigit() and 0 < int(n) <= int(m):
    n, m = int(n), int(m)
    return (lambda w, mask: encode_n_of_m(w, mask, n, m),
            lambda parts, shape: decode_n_of_m(parts, shape, n, m))
  raise ValueError(f"encoding must be one of {ENCODINGS} or 'N:M' (e.g. "
                   f"'2:4'), got {encoding!r}")


def _raw(array: np.ndarray) -> np.ndarray:
  # Bytes, so that dtypes numpy cannot name in a file (bfloat16) survive.
  return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def save_pruned(path: str, params: PyTree, masks: PyTree,
                encoding: str = "bitmask") -> dict:
  """Writes the masked params (W * M) to `path` (.npz); returns its sizes.

  Args:
    path: the file to write (parent folders are created).
    params: any parameter pytree.
    masks: a mask tree for `params` (boolean, None where unpruned).
    encoding: "bitmask", "csr" or "N:M" (e.g. "2:4", for masks of
      `pruners.n_of_m`).

  Returns:
    {"bytes": size of the file, "dense_float32_bytes": every parameter as
    float32, "kept_weights", "masked_weights"}.
  """
  encode, _ = _codec(encoding)
  masks_lib.check_masks(params, masks)
  arrays, entries = {}, []
  mask_leaves = tree_paths.named_leaves(masks, keep_none=True)
  kept = masked = dense_count = 0
  for i, ((name, weight), (_, mask)) in enumerate(
      zip(tree_paths.named_leaves(params), mask_leaves)):
    weight = np.asarray(weight)
    dense_count += weight.size
    entry = {"name": name, "shape": list(weight.shape),
             "dtype": jnp.dtype(weight.dtype).name}
    if mask is None:
      parts, entry["stored"] = {"values": weight}, "dense"
    else:
      mask = np.asarray(mask, bool)
      try:
        parts = encode(weight, mask)
      except ValueError as e:
        raise ValueError(f"parameter '{name}': {e}") from None
      entry["stored"] = encoding
      kept, masked = kept + int(mask.sum()), masked + mask.size
    entry["parts"] = {key: str(part.dtype) for key, part in parts.items()
                      if key != "values"}
    for key, part in parts.items():
      arrays[f"{i}/{key}"] = _raw(part) if key == "values" else part
    entries.append(entry)
  arrays[_META] = np.frombuffer(json.dumps(entries).encode(), np.uint8)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "wb") as f:  # np.savez would append ".npz" to other names
    np.savez(f, **arrays)
  return {"bytes": os.path.getsize(path), "dense_float32_bytes": 4 * dense_count,
          "kept_weights": kept, "masked_weights": masked}


def _nest(named: list[tuple[str, np.ndarray]]) -> dict:
  tree = {}
  for name, value in named:
    *parents, leaf = name.split("/")
    node = tree
    for parent in parents:
      node = node.setdefault(parent, {})
    node[leaf] = value
  return tree


def load_pruned(path: str, like: Optional[PyTree] = None,
                with_masks: bool = False):
  """Reads a file of `save_pruned` back into exact arrays (W * M).

  Without `like`, returns nested dicts keyed by the parameter names (the
  layout of Flax Linen params); with `like`, a tree of the same structure as
  `like` (e.g. an NNX `State`), whose names and shapes must match. With
  `with_masks`, returns (params, masks): the saved masks, None for
  parameters stored dense.
  """
  named, named_masks = [], []
  with np.load(path) as data:
    entries = json.loads(data[_META].tobytes().decode())
    for i, entry in enumerate(entries):
      parts = {key: data[f"{i}/{key}"] for key in entry["parts"]}
      shape = tuple(entry["shape"])
      parts["values"] = data[f"{i}/values"].view(jnp.dtype(entry["dtype"]))
      if entry["stored"] == "dense":
        value, mask = parts["values"].reshape(shape), None
      else:
        _, decode = _codec(entry["stored"])
        value = decode(parts, shape)
        # Decoding all-True values in the same positions gives the mask.
        mask = decode({**parts, "values": np.ones(len(parts["values"]), bool)},
                      shape)
      named.append((entry["name"], value))
      named_masks.append((entry["name"], mask))
  params, masks = _nest(named), _nest(named_masks)
  if like is not None:
    like_named = tree_paths.named_leaves(like)
    tree_paths.check_same_layout(params, _nest(like_named), f"file {path}",
                                 "`like`")
    treedef = jax.tree.structure(like)
    params, masks = (
        jax.tree.unflatten(treedef, [dict(pairs)[name]
                                     for name, _ in like_named])
        for pairs in (named, named_masks))
  return (params, masks) if with_masks else params
