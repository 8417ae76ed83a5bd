"""A pruned model as a truly smaller file: bitmask or CSR encoding.

Dense arrays times masks are as large as the dense model. Here a masked
parameter keeps only its kept values and where they are:

- "bitmask": one bit per weight (`np.packbits`, row-major) and the kept
  values in row-major order.
- "csr": the parameter seen as a matrix whose columns are its last axis (a
  Dense kernel's outputs, a conv kernel's output channels) and rows all the
  leading axes, stored as row pointers, column indices and values; pointers
  and indices use the smallest unsigned integer type that holds them.

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

from coprune_jax import masks as masks_lib
from coprune_jax import tree_paths

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


_ENCODERS = {"bitmask": encode_bitmask, "csr": encode_csr}
_DECODERS = {"bitmask": decode_bitmask, "csr": decode_csr}


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
    encoding: "bitmask" or "csr".

  Returns:
    {"bytes": size of the file, "dense_float32_bytes": every parameter as
    float32, "kept_weights", "masked_weights"}.
  """
  if encoding not in ENCODINGS:
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
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
      parts, entry["stored"] = _ENCODERS[encoding](weight, mask), encoding
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
        decode = _DECODERS[entry["stored"]]
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
