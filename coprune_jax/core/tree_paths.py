"""Generic tools for naming and walking parameter pytrees of any kind.

A parameter is named by its pytree path joined with "/", e.g. "conv1/kernel".
This works unchanged for Flax Linen params (nested dicts), Flax NNX `State`
(whose Variables add a trailing `.value` attribute, dropped from the name) and
plain nested dicts, lists and tuples.
"""

from typing import Any, Callable

import jax
import numpy as np

PyTree = Any


def _key_name(key) -> str:
  if isinstance(key, jax.tree_util.DictKey):
    return str(key.key)
  if isinstance(key, jax.tree_util.SequenceKey):
    return str(key.idx)
  if isinstance(key, jax.tree_util.GetAttrKey):
    return key.name
  if isinstance(key, jax.tree_util.FlattenedIndexKey):
    return str(key.key)
  return str(key)


def path_name(key_path) -> str:
  """Joins a pytree key path into a parameter name like "conv1/kernel"."""
  names = [_key_name(k) for k in key_path]
  # NNX Variables hold their array under the attribute `value`.
  if (len(key_path) > 1 and isinstance(key_path[-1], jax.tree_util.GetAttrKey)
      and names[-1] == "value"):
    names = names[:-1]
  return "/".join(names)


def _is_none(x) -> bool:
  return x is None


def named_leaves(tree: PyTree, keep_none: bool = False) -> list[tuple[str, Any]]:
  """Returns [(name, leaf)] in pytree order; `keep_none` lists None leaves too."""
  is_leaf = _is_none if keep_none else None
  flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)
  return [(path_name(path), leaf) for path, leaf in flat]


def map_with_names(fn: Callable[..., Any], tree: PyTree, *rest: PyTree) -> PyTree:
  """Like `jax.tree.map`, with the leaf's parameter name as first argument.

  None leaves of `tree` are passed to `fn` as None (they are not dropped), so
  `tree` may be a mask or keep-ratio tree with None for unpruned parameters.
  """
  return jax.tree_util.tree_map_with_path(
      lambda path, *leaves: fn(path_name(path), *leaves), tree, *rest,
      is_leaf=_is_none)


def is_weight_kernel(name: str, leaf) -> bool:
  """Default prunability rule: floating arrays with at least 2 dimensions.

  This selects dense and convolution kernels (and embeddings) and leaves out
  biases and normalisation scales, which are 1-D.
  """
  del name
  dtype = getattr(leaf, "dtype", None)
  return (dtype is not None and np.issubdtype(dtype, np.floating)
          and np.ndim(leaf) >= 2)


def check_same_layout(tree_a: PyTree, tree_b: PyTree, what_a: str, what_b: str,
                      compare_shapes: bool = True) -> None:
  """Raises ValueError naming the first parameter where two trees differ.

  Trees may hold None leaves (unpruned parameters in a mask or keep-ratio
  tree): names are compared for every leaf, shapes only where both are arrays.
  """
  leaves_a = named_leaves(tree_a, keep_none=True)
  leaves_b = named_leaves(tree_b, keep_none=True)
  names_a = [n for n, _ in leaves_a]
  names_b = [n for n, _ in leaves_b]
  if names_a != names_b:
    only_a = [n for n in names_a if n not in set(names_b)]
    only_b = [n for n in names_b if n not in set(names_a)]
    if only_a:
      raise ValueError(f"{what_a} has parameter '{only_a[0]}' that {what_b} lacks")
    if only_b:
      raise ValueError(f"{what_b} has parameter '{only_b[0]}' that {what_a} lacks")
    raise ValueError(f"{what_a} and {what_b} list their parameters in a "
                     "different order")
  if jax.tree.structure(tree_a, is_leaf=_is_none) != jax.tree.structure(
      tree_b, is_leaf=_is_none):
    raise ValueError(f"{what_a} and {what_b} have the same parameter names but "
                     "different container types")
  if compare_shapes:
    for (name, a), (_, b) in zip(leaves_a, leaves_b):
      if a is None or b is None:
        continue
      if np.shape(a) != np.shape(b):
        raise ValueError(f"parameter '{name}' has shape {np.shape(a)} in "
                         f"{what_a} but {np.shape(b)} in {what_b}")


def nodes_of_type(tree: PyTree, node_type: type) -> list:
  """The subtrees of `tree` that are `node_type` instances (e.g. one
  transformation's state inside an optax chain's state)."""
  is_node = lambda x: isinstance(x, node_type)
  return [x for x in jax.tree.leaves(tree, is_leaf=is_node) if is_node(x)]
