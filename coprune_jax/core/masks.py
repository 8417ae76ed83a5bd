"""Pruning masks as pure functions of parameter pytrees.

A mask tree has the structure of the params: a boolean array (True = kept)
for every parameter with a keep ratio and None for every parameter left dense.
"""

from typing import Any, Callable, Sequence, Union

import jax
import jax.numpy as jnp

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import topk
from coprune_jax.core import tree_paths

PyTree = Any
Fusion = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
# count_of(size, keep_ratio) -> kept entries (an int, or traced int32)
CountOf = Callable[[int, float], Any]


def check_scope(scope: str) -> None:
  if scope not in ("layer", "global"):
    raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")


def _ranking(scores: PyTree, keep_ratios: PyTree, scope: str,
             count_of: CountOf = keep_ratios_lib.kept_count):
  """The score groups and kept counts of one mask tree, and where they go."""
  tree_paths.check_same_layout(keep_ratios, scores, "keep-ratio tree",
                               "scores", compare_shapes=False)
  entries = []  # (position among leaves, scores, kept count)
  ratio_leaves = tree_paths.named_leaves(keep_ratios, keep_none=True)
  score_leaves = tree_paths.named_leaves(scores, keep_none=True)
  for i, ((name, keep_ratio), (_, score)) in enumerate(
      zip(ratio_leaves, score_leaves)):
    if keep_ratio is None:
      continue
    if score is None:
      raise ValueError(f"parameter '{name}' has a keep ratio but no score")
    score = jnp.asarray(score)
    entries.append((i, score, count_of(score.size, keep_ratio)))
  if not entries:
    groups, counts = [], []
  elif scope == "layer":
    groups = [[score] for _, score, _ in entries]
    counts = [count for _, _, count in entries]
  else:
    groups = [[score for _, score, _ in entries]]
    counts = [sum(count for _, _, count in entries)]
  return groups, counts, [i for i, _, _ in entries]


def _mask_tree(keep_ratios: PyTree, group_masks, leaf_indices) -> PyTree:
  """The mask tree with the selected masks at their leaves, None elsewhere."""
  treedef = jax.tree.structure(keep_ratios, is_leaf=lambda x: x is None)
  by_leaf = dict(zip(leaf_indices, [m for group in group_masks for m in group]))
  return jax.tree.unflatten(treedef, [by_leaf.get(i)
                                      for i in range(treedef.num_leaves)])


def score_mask_trees(score_trees: Sequence[PyTree], keep_ratios: PyTree,
                     scope: str = "layer",
                     count_of: CountOf = keep_ratios_lib.kept_count
                     ) -> list[PyTree]:
  """`score_masks` of several score trees, selected together in one pass.

  One selection over all trees' layers costs about what one tree's costs on
  an accelerator (the passes are per buffer, not per layer).
  """
  check_scope(scope)
  rankings = [_ranking(scores, keep_ratios, scope, count_of)
              for scores in score_trees]
  groups = [g for groups, _, _ in rankings for g in groups]
  counts = [c for _, counts, _ in rankings for c in counts]
  selected = topk.top_count_masks(groups, counts) if groups else []
  trees = []
  for tree_groups, _, leaf_indices in rankings:
    tree_masks, selected = (selected[:len(tree_groups)],
                            selected[len(tree_groups):])
    trees.append(_mask_tree(keep_ratios, tree_masks, leaf_indices))
  return trees


def score_masks(scores: PyTree, keep_ratios: PyTree,
                scope: str = "layer",
                count_of: CountOf = keep_ratios_lib.kept_count) -> PyTree:
  """Keeps the highest-scoring weights of every parameter with a keep ratio.

  Args:
    scores: a pytree like the params with an importance score array (larger
      = more important) for every pruned parameter; other leaves are ignored
      and may be None.
    keep_ratios: from `keep_ratio_tree`.
    scope: "layer" keeps exactly `kept_count(n, keep_ratio)` entries in each
      parameter; "global" keeps the sum of those counts, chosen by one ranking
      across all pruned parameters (so layers compete for the budget).
    count_of: `(size, keep_ratio) -> count` of a parameter's kept entries,
      `kept_count` by default; it may return a traced count (a sparsity
      schedule inside jit), which the selection clips to [1, size].

  Returns:
    A mask tree: boolean arrays of the scores' shapes, None where unpruned.
  """
  return score_mask_trees([scores], keep_ratios, scope, count_of)[0]


def magnitudes(params: PyTree, keep_ratios: PyTree) -> PyTree:
  """|w| where `keep_ratios` prunes, None elsewhere."""
  tree_paths.check_same_layout(keep_ratios, params, "keep-ratio tree", "params",
                               compare_shapes=False)
  return tree_paths.map_with_names(
      lambda _, keep_ratio, w: None if keep_ratio is None else jnp.abs(w),
      keep_ratios, params)


def magnitude_masks(params: PyTree, keep_ratios: PyTree, scope: str = "layer",
                    count_of: CountOf = keep_ratios_lib.kept_count) -> PyTree:
  """Masks keeping the largest-magnitude weights: Imp(w) = |w| (`scope` and
  `count_of` as in `score_masks`)."""
  return score_masks(magnitudes(params, keep_ratios), keep_ratios, scope,
                     count_of)


def signed_fusion(source_weight, target_weight, alpha):
  """The paper's Eq. 4-5: |alpha * W_s + (1 - alpha) * W_t|."""
  return jnp.abs(alpha * source_weight + (1 - alpha) * target_weight)


def magnitude_fusion(source_weight, target_weight, alpha):
  """The released code's fusion: alpha * |W_s| + (1 - alpha) * |W_t|."""
  return alpha * jnp.abs(source_weight) + (1 - alpha) * jnp.abs(target_weight)


def scale_matched(fusion):
  """`fusion` of the two layers each divided by its mean magnitude first.

  Fine-tuned magnitudes need not share a scale with the source's: without
  matching, the larger-scale model decides more of the ranking than alpha
  says. alpha = 0 and 1 keep the masks of one model (scaling a layer does
  not change its own ranking).
  """
  def matched(source_weight, target_weight, alpha):
    scale = lambda w: jnp.maximum(jnp.mean(jnp.abs(w)), 1e-30)
    return fusion(source_weight / scale(source_weight),
                  target_weight / scale(target_weight), alpha)
  return matched


FUSIONS = {"signed": signed_fusion, "magnitude": magnitude_fusion,
           "signed_matched": scale_matched(signed_fusion),
           "magnitude_matched": scale_matched(magnitude_fusion)}


def resolve_fusion(fusion: Union[str, Fusion]) -> Fusion:
  if callable(fusion):
    return fusion
  if fusion not in FUSIONS:
    raise ValueError(f"fusion must be one of {sorted(FUSIONS)} or a callable "
                     f"(source_weight, target_weight, alpha) -> scores, got "
                     f"{fusion!r}")
  return FUSIONS[fusion]


def check_alpha(alpha) -> None:
  """Raises ValueError for a concrete alpha outside [0, 1]; tracers pass."""
  if isinstance(alpha, jax.core.Tracer):
    return
  value = float(alpha)
  if not 0.0 <= value <= 1.0:  # also rejects NaN
    raise ValueError(f"alpha must be in [0, 1], got {value}")


def cooperative_masks(source_params: PyTree, target_params: PyTree, alpha,
                      keep_ratios: PyTree, fusion: Union[str, Fusion] = "signed",
                      scope: str = "layer") -> tuple[PyTree, PyTree]:
  """Co-Prune's masks: the source's own, and the target's from fused weights.

  M_s = mask(|W_s|) and M_t = mask(fusion(W_s, W_t, alpha)), with the paper's
  signed fusion |alpha W_s + (1 - alpha) W_t| by default. alpha = 0 gives the
  target's own magnitude mask, alpha = 1 the source's.

  Args:
    source_params, target_params: pytrees of identical structure and shapes.
    alpha: transfer factor in [0, 1]; may be a traced scalar inside jit.
    keep_ratios: from `keep_ratio_tree`.
    fusion: "signed", "magnitude" or `(source_w, target_w, alpha) -> scores`.
    scope: "layer" or "global", as in `score_masks`.

  Returns:
    `(source_masks, target_masks)`.
  """
  tree_paths.check_same_layout(source_params, target_params, "source params",
                               "target params")
  check_alpha(alpha)
  # Both domains in one selection: half the passes of two.
  source_masks, target_masks = score_mask_trees(
      cooperative_scores(source_params, target_params, alpha, keep_ratios,
                         fusion), keep_ratios, scope)
  return source_masks, target_masks


def cooperative_scores(source_params: PyTree, target_params: PyTree, alpha,
                       keep_ratios: PyTree,
                       fusion: Union[str, Fusion] = "signed"
                       ) -> tuple[PyTree, PyTree]:
  """The score trees `cooperative_masks` ranks: |W_s| and the fused weights."""
  fuse = resolve_fusion(fusion)
  source_scores = magnitudes(source_params, keep_ratios)
  fused_scores = tree_paths.map_with_names(
      lambda _, keep_ratio, ws, wt: (None if keep_ratio is None
                                     else fuse(ws, wt, alpha)),
      keep_ratios, source_params, target_params)
  return source_scores, fused_scores


def check_masks(params: PyTree, masks: PyTree) -> None:
  """Raises ValueError naming the parameter where `masks` does not fit."""
  if masks is None and params is not None:
    raise ValueError("masks is None: pass a mask tree like params (e.g. "
                     "from cj.magnitude_masks), None only at dense leaves")
  tree_paths.check_same_layout(masks, params, "masks", "params")


def all_ones_masks(params: PyTree, keep_ratios: PyTree) -> PyTree:
  """Masks keeping everything, where `keep_ratios` prunes (the initial state)."""
  return tree_paths.map_with_names(
      lambda _, keep_ratio, w: (None if keep_ratio is None
                                else jnp.ones(jnp.shape(w), jnp.bool_)),
      keep_ratios, params)


def kept_counts(masks: PyTree) -> dict[str, int]:
  """{parameter name: number of kept weights} for every masked parameter."""
  return {name: int(jnp.sum(mask))
          for name, mask in tree_paths.named_leaves(masks)}
