"""Per-parameter keep ratios (fraction of weights kept) from simple rules.

A keep-ratio tree has the structure of the params: a Python float in (0, 1]
for every pruned parameter and None for every parameter left dense (biases,
normalisation scales, anything the rules do not cover). Keep ratios are static
configuration: they fix how many weights each mask keeps, so they are closed
over by jitted functions rather than passed as traced arguments.
"""

import math
import numbers
import re
from typing import Any, Callable, Sequence, Union

import jax

from coprune_jax.core import tree_paths

PyTree = Any
Rules = Union[float, Sequence[tuple[str, Union[float, None]]], PyTree]
Prunable = Callable[[str, Any], bool]


def kept_count(size: int, keep_ratio: float) -> int:
  """Number of entries a mask keeps: max(1, round(size * keep_ratio)).

  Rounds half up (not to even) so that the count does not depend on the
  parity of the product.

  >>> kept_count(51200, 0.009), kept_count(10, 0.25), kept_count(100, 0.001)
  (461, 3, 1)
  """
  return max(1, min(size, math.floor(size * keep_ratio + 0.5)))


def _as_python_scalar(value):
  """A concrete 0-d array (e.g. `jnp.float32(0.2)`) as a Python number."""
  if isinstance(value, jax.core.Tracer):
    raise ValueError("keep ratios fix the kept counts, so they must be "
                     "concrete numbers, not traced values: compute them "
                     "outside jax.jit (or close over them)")
  if getattr(value, "shape", None) == () and hasattr(value, "item"):
    return value.item()
  return value


def validate_keep_ratio(keep_ratio, what: str) -> float:
  """Returns `keep_ratio` as a float, or raises ValueError naming `what`.

  >>> validate_keep_ratio(jax.numpy.float32(0.5), "x")
  0.5
  """
  keep_ratio = _as_python_scalar(keep_ratio)
  if isinstance(keep_ratio, bool) or not isinstance(keep_ratio, numbers.Real):
    raise ValueError(f"keep ratio of {what} must be a number in (0, 1], "
                     f"got {keep_ratio!r}")
  keep_ratio = float(keep_ratio)
  if math.isnan(keep_ratio) or not 0.0 < keep_ratio <= 1.0:
    raise ValueError(f"keep ratio of {what} must be in (0, 1], "
                     f"got {keep_ratio}")
  return keep_ratio


def _is_rule_list(rules) -> bool:
  return (isinstance(rules, (list, tuple)) and len(rules) > 0 and all(
      isinstance(r, (list, tuple)) and len(r) == 2 and isinstance(r[0], str)
      for r in rules))


def keep_ratio_tree(params: PyTree, rules: Rules,
                    prunable: Prunable = tree_paths.is_weight_kernel) -> PyTree:
  """Builds the keep-ratio tree of `params` from one of three kinds of rules.

  Args:
    params: any pytree of arrays (Linen params, NNX State, nested dicts).
    rules: one of
      - a number: that keep ratio for every prunable parameter;
      - a list of `(regex, keep_ratio)` pairs, matched with `re.fullmatch`
        against parameter names like "conv1/kernel"; the first matching rule
        wins; `keep_ratio=None` leaves the matched parameters dense; prunable
        parameters that no rule matches stay dense;
      - a pytree with the structure of `params` holding a keep ratio or None
        per parameter.
    prunable: `(name, leaf) -> bool`; by default floating arrays with
      ndim >= 2 (weight kernels). Other parameters are never pruned.

  Returns:
    A pytree like `params` with a float per pruned parameter and None elsewhere.

  Raises:
    ValueError: a keep ratio outside (0, 1] or NaN, a rule that matches no
      prunable parameter, a keep ratio given for a non-prunable parameter, or
      a tree that does not match `params`; the message names the parameter.
  """
  named = tree_paths.named_leaves(params)
  if not named:
    raise ValueError("params has no array leaves to prune")
  prunable_names = {n for n, leaf in named if prunable(n, leaf)}

  rules = _as_python_scalar(rules)
  if isinstance(rules, numbers.Real) and not isinstance(rules, bool):
    keep_ratio = validate_keep_ratio(rules, "all prunable parameters")
    return tree_paths.map_with_names(
        lambda n, _: keep_ratio if n in prunable_names else None, params)

  if _is_rule_list(rules):
    return _from_regex_rules(params, rules, prunable_names)

  if isinstance(rules, (str, bool)) or rules is None:
    raise ValueError(f"keep-ratio rules must be a number, a list of "
                     f"(regex, keep_ratio) pairs or a pytree, got {rules!r}")
  return _from_tree(params, rules, prunable_names)


def _from_regex_rules(params, rules, prunable_names) -> PyTree:
  compiled = []
  for pattern, keep_ratio in rules:
    try:
      regex = re.compile(pattern)
    except re.error as e:
      raise ValueError(f"keep-ratio rule {pattern!r} is not a valid regex: {e}")
    if keep_ratio is not None:
      keep_ratio = validate_keep_ratio(keep_ratio, f"rule {pattern!r}")
    compiled.append((regex, keep_ratio))

  used = [False] * len(compiled)

  def ratio_of(name, _):
    if name not in prunable_names:
      return None
    for i, (regex, keep_ratio) in enumerate(compiled):
      if regex.fullmatch(name):
        used[i] = True
        return keep_ratio
    return None

  tree = tree_paths.map_with_names(ratio_of, params)
  for (pattern, _), was_used in zip(rules, used):
    if not was_used:
      raise ValueError(
          f"keep-ratio rule {pattern!r} matches no prunable parameter not "
          f"already matched by an earlier rule; prunable parameters: "
          f"{sorted(prunable_names)}")
  return tree


def _from_tree(params, rules, prunable_names) -> PyTree:
  tree_paths.check_same_layout(rules, params, "keep-ratio tree", "params",
                               compare_shapes=False)

  def ratio_of(name, keep_ratio, _):
    if keep_ratio is None:
      return None
    if name not in prunable_names:
      raise ValueError(f"parameter '{name}' is not prunable but has keep "
                       f"ratio {keep_ratio!r}")
    return validate_keep_ratio(keep_ratio, f"'{name}'")

  return tree_paths.map_with_names(ratio_of, rules, params)


def overall_keep_ratio(params: PyTree, keep_ratios: PyTree) -> float:
  """Fraction of the pruned parameters' weights that the masks keep."""
  kept = total = 0
  for (_, leaf), (_, keep_ratio) in zip(
      tree_paths.named_leaves(params),
      tree_paths.named_leaves(keep_ratios, keep_none=True)):
    if keep_ratio is not None:
      kept += kept_count(leaf.size, keep_ratio)
      total += leaf.size
  return kept / total if total else 1.0


def erk_keep_ratios(params: PyTree, density: float, dense: Sequence[str] = (),
                    prunable: Prunable = tree_paths.is_weight_kernel
                    ) -> PyTree:
  """The Erdos-Renyi-Kernel distribution (Evci et al. 2020, RigL).

  Each pruned parameter of shape (..., n_in, n_out) keeps a fraction
  proportional to sum(shape) / prod(shape): epsilon * (k_h + k_w + n_in +
  n_out) / (k_h k_w n_in n_out) for a convolution kernel, (n_in + n_out) /
  (n_in n_out) for a dense one (Erdos-Renyi), with epsilon chosen so that
  the pruned parameters keep `density` of their weights together. Layers
  whose fraction would exceed 1 keep everything and epsilon is solved again
  for the rest.

  Args:
    params: any pytree of arrays.
    density: the kept fraction over all pruned parameters, in (0, 1].
    dense: regexes (re.fullmatch) of prunable parameters left unpruned,
      e.g. the first and last layers; they do not count towards `density`.
    prunable: see `keep_ratio_tree`.

  Returns:
    A keep-ratio tree like `keep_ratio_tree`'s.
  """
  density = validate_keep_ratio(density, "the ERK density")
  patterns = [re.compile(p) for p in dense]
  named = [(name, leaf) for name, leaf in tree_paths.named_leaves(params)
           if prunable(name, leaf)
           and not any(p.fullmatch(name) for p in patterns)]
  if not named:
    raise ValueError("ERK needs at least one prunable parameter not in "
                     "`dense`")
  sizes = {name: math.prod(leaf.shape) for name, leaf in named}
  raw = {name: sum(leaf.shape) / sizes[name] for name, leaf in named}
  total = sum(sizes.values())
  full = set()  # parameters that keep everything
  while True:
    budget = density * total - sum(sizes[n] for n in full)
    rest = [n for n in sizes if n not in full]
    epsilon = budget / sum(raw[n] * sizes[n] for n in rest)
    over = [n for n in rest if epsilon * raw[n] > 1.0]
    if not over:
      break
    full.update(over)
  ratios = {n: 1.0 if n in full else epsilon * raw[n] for n in sizes}
  return tree_paths.map_with_names(lambda n, _: ratios.get(n), params)
