"""Which channels to keep: per-group fractions or one global budget.

A global budget is a fraction of the model's parameters or FLOPs. Scores
are normalised by their group's mean (so that layers of different scale
compete fairly) and the lowest channels are dropped one at a time until the
shrunk model fits; every group keeps at least one channel.
"""

from typing import Any, Optional

import jax
import numpy as np

from coprune_jax.core import topk
from coprune_jax.core import tree_paths
from coprune_jax.structured import criteria
from coprune_jax.structured.groups import ChannelGroup

PyTree = Any
MEASURES = ("params", "flops")


def group_fractions(names, fraction) -> dict:
  """{group name: keep fraction} from one number or a dict, checked."""
  fractions = {n: fraction[n] if isinstance(fraction, dict) else fraction
               for n in names}
  for name, share in fractions.items():
    if not 0 < share <= 1:
      raise ValueError(f"group '{name}': keep fraction must be in (0, 1], "
                       f"got {share}")
  return fractions


def keep_per_group(scores: dict, fraction) -> dict:
  """{group: bool mask} keeping max(1, round(size * fraction)) top channels
  (`topk_mask`: ties to the lower index); `fraction` is one number or
  {group name: fraction}."""
  fractions = group_fractions(scores, fraction)
  return {name: np.asarray(topk.topk_mask(score, fractions[name]))
          for name, score in scores.items()}


def output_positions(module, variables: PyTree, inputs) -> dict:
  """{kernel path: output positions per example} (1 for Dense), so that a
  kernel's multiply-adds per example are its size times this."""
  _, state = jax.eval_shape(
      lambda v, x: module.apply(v, x, capture_intermediates=True,
                                mutable=["intermediates"]), variables, inputs)
  outputs = criteria.module_outputs(state["intermediates"])
  positions = {}
  for name, _ in tree_paths.named_leaves(variables["params"]):
    if name.endswith("/kernel"):
      shape = outputs[name[:-len("/kernel")]].shape
      positions[f"params/{name}"] = int(np.prod(shape[1:-1]))
  return positions


def kernel_macs(module, variables: PyTree, inputs) -> int:
  """Multiply-adds of all kernels for one example of `inputs`' shape."""
  named = dict(tree_paths.named_leaves(variables))
  return sum(np.size(named[path]) * count for path, count in
             output_positions(module, variables, inputs).items())


class CostModel:
  """Parameters or FLOPs of the shrunk model as a function of kept counts."""

  def __init__(self, variables: PyTree, groups: list[ChannelGroup],
               measure: str = "params", positions: Optional[dict] = None):
    if measure not in MEASURES:
      raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if measure == "flops" and positions is None:
      raise ValueError("FLOPs need `positions` (see output_positions)")
    cut_by = {}
    for g in groups:
      for piece in g.producers + g.consumers:
        cut_by.setdefault(piece.path, []).append(g.name)
    self.terms = []  # (base cost, [groups whose kept fraction scales it])
    for name, leaf in tree_paths.named_leaves({"params": variables["params"]}):
      if measure == "params":
        base = np.size(leaf)
      elif name in positions:
        base = np.size(leaf) * positions[name]
      else:
        continue  # biases and norms: no multiply-adds counted
      self.terms.append((base, cut_by.get(name, [])))
    self.sizes = {g.name: g.size for g in groups}

  def __call__(self, kept: dict) -> float:
    return sum(base * np.prod([kept[g] / self.sizes[g] for g in names])
               for base, names in self.terms)


def keep_within_budget(scores: dict, cost: CostModel, budget: float,
                       multiple_of: int = 1) -> dict:
  """Drops the lowest normalised scores until cost <= budget * full cost.

  With `multiple_of` m > 1, channels go in blocks of the m lowest left in a
  group (scored by their mean), so kept counts stay multiples of m (or the
  group's full size): hardware kernels are often much faster for such
  widths (on XLA's CPU backend, multiples of 16).
  """
  if not 0 < budget <= 1:
    raise ValueError(f"budget must be in (0, 1], got {budget}")
  if not isinstance(multiple_of, int) or multiple_of < 1:
    raise ValueError(f"multiple_of must be a positive integer, got "
                     f"{multiple_of!r}")
  keep = {n: np.ones(np.size(s), bool) for n, s in scores.items()}
  kept = {n: np.size(s) for n, s in scores.items()}
  limit = budget * cost(kept)
  blocks = []  # (mean normalised score, group, channel indices)
  for name, score in scores.items():
    score = np.asarray(score, np.float64)
    normalised = score / max(float(np.mean(score)), 1e-30)
    order = np.argsort(normalised, kind="stable")
    # First the remainder over a multiple of m, then blocks of m; the last
    # m channels (or all, in a group smaller than m) are never dropped.
    bounds = list(range(len(order) % multiple_of, len(order) - multiple_of + 1,
                        multiple_of))
    if bounds and bounds[0] > 0:
      bounds.insert(0, 0)
    for start, stop in zip(bounds[:-1], bounds[1:]):
      indices = order[start:stop]
      blocks.append((float(normalised[indices].mean()), name, indices))
  for _, name, indices in sorted(blocks, key=lambda b: b[0]):
    if cost(kept) <= limit:
      break
    keep[name][indices] = False
    kept[name] -= len(indices)
  if cost(kept) > limit:
    raise ValueError(f"cannot reach {budget:.2%} of the cost with "
                     f"{multiple_of} channel(s) per group left")
  return keep
