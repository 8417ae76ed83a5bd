"""Co-Prune's target pruner: the top weights of the fused source and target."""

from typing import Any, Callable, Union

from coprune_jax.core import cooperative as cooperative_lib
from coprune_jax.core import losses
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import plateau
from coprune_jax.core import pruning
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner
from coprune_jax.core.pruner import top_scores
from coprune_jax.pruners._dns import budget_thresholds
from coprune_jax.pruners._dns import surgery
from coprune_jax.pruners._gradual import gradual_count_of
from coprune_jax.pruners._magnitude import magnitude


def cooperative(keep_ratios,
                alpha: Union[float, Callable[[Any], Any], None] = None,
                fusion: Union[str, masks_lib.Fusion] = "signed", *,
                scope: str = "layer", update_every: int = 1,
                gradient: str = "straight_through", initial: str = "ones",
                hysteresis: float = 0.0, gradual_steps: int = 0,
                prunable=tree_paths.is_weight_kernel) -> Pruner:
  """Co-Prune's target masks: the top weights of fused source and target.

  Masks rank fusion(W_partner, W, alpha), by default the paper's signed
  fusion |alpha W_s + (1 - alpha) W_t| with the partner (the source model)
  as W_s: alpha = 0 gives the magnitude masks of `params`, alpha = 1 those
  of `partner_params`, with the same counts and tie rule.

  Args:
    keep_ratios: see `Pruner.keep_ratios`, shared by both domains.
    alpha: the transfer factor in [0, 1], or a schedule `count -> alpha`
      (e.g. an optax schedule). `update(..., alpha=a)` overrides it for one
      update, e.g. from a stage controller that holds alpha in its state
      (`cj.cooperative_pruning` gives its state's alpha); None: every
      update must give it.
    fusion: "signed", "magnitude" (alpha |W_s| + (1 - alpha) |W_t|, the
      released code's), either with "_matched" (each layer divided by its
      mean magnitude first, `masks.scale_matched`), or `(source_w,
      target_w, alpha) -> scores`.
    scope, update_every, gradient, prunable: as in `magnitude`.
    initial: "ones" (a dense first step) or "pruned" (`Pruner.start` with
      the partner: the fused masks of the start's weights).
    hysteresis: > 0 updates the masks by DNS-style surgery on the fused
      scores instead of taking their top k: cut below (1 - h) c, keep above
      (1 + h) c, the current state in between, with the centre c placed so
      that each layer keeps its count (`pruners._dns.budget_thresholds`);
      weights near the threshold stop flipping every step. Layer scope only.
    gradual_steps: > 0 reaches the keep ratios gradually, on Zhu & Gupta's
      cubic schedule from dense over the first `gradual_steps` updates,
      instead of in one jump at the first update.
  """
  masks_lib.check_scope(scope)
  fuse = masks_lib.resolve_fusion(fusion)
  if not 0.0 <= hysteresis < 1.0:
    raise ValueError(f"hysteresis must be in [0, 1), got {hysteresis}")
  if hysteresis and scope != "layer":
    raise ValueError("hysteresis keeps counts per layer: use scope='layer'")
  if hysteresis and gradual_steps:
    raise ValueError("hysteresis and gradual_steps do not combine: the band "
                     "keeps the final counts")
  if gradual_steps < 0:
    raise ValueError(f"gradual_steps must be >= 0, got {gradual_steps}")
  if alpha is not None and not callable(alpha):
    masks_lib.check_alpha(alpha)

  def scores_fn(params, keep_ratio_tree, partner_params, count,
                **extra_args):
    tree_paths.check_same_layout(partner_params, params, "partner_params",
                                 "params")
    if "alpha" in extra_args:
      current = extra_args["alpha"]
    elif alpha is None:
      raise ValueError("this cooperative pruner has no alpha of its own: "
                       "give it as update(..., alpha=...)")
    else:
      current = alpha(count) if callable(alpha) else alpha
    masks_lib.check_alpha(current)
    return masks_lib.cooperative_scores(partner_params, params, current,
                                        keep_ratio_tree, fuse)[1]

  if hysteresis:
    def masks_fn(params, keep_ratio_tree, partner_params, count, *, masks,
                 **extra_args):
      fused = scores_fn(params, keep_ratio_tree, partner_params, count,
                        **extra_args)
      if masks is None:  # no mask state yet: the band has nothing to hold
        return masks_lib.score_masks(fused, keep_ratio_tree, scope)
      return tree_paths.map_with_names(
          lambda _, ratio, score, mask: None if ratio is None else (
              surgery(score, mask, *budget_thresholds(
                  score, mask, ratio, hysteresis))),
          keep_ratio_tree, fused, masks)
  elif gradual_steps:
    def masks_fn(params, keep_ratio_tree, partner_params, count,
                 **extra_args):
      fused = scores_fn(params, keep_ratio_tree, partner_params, count,
                        **extra_args)
      return masks_lib.score_masks(
          fused, keep_ratio_tree, scope,
          count_of=gradual_count_of(count, 0, gradual_steps))
  else:
    masks_fn = top_scores(scores_fn, scope)
  plain_top_k = not hysteresis and not gradual_steps
  return Pruner(keep_ratios, masks_fn, update_every, gradient, initial,
                needs_partner=True, prunable=prunable,
                scores_fn=scores_fn if plain_top_k else None, scope=scope,
                budget_step=gradual_steps)


def published_coprune(keep_ratios, objective: losses.Objective,
                      learning_rate: float = 1e-3, fusion="signed",
                      scope: str = "layer", source_steps: int = 1
                      ) -> cooperative_lib.CooperativePruning:
  """Co-Prune as published: both domains under Adam with the plateau rule
  at `learning_rate`, the source keeping its largest weights, the target
  the largest fused weights (`pruners.cooperative`, `fusion`); both
  recompute their masks after every update with straight-through
  gradients. `keep_ratios` as `cj.keep_ratio_tree` takes them."""
  optimizer = plateau.adam_with_plateau(learning_rate)
  return cooperative_lib.cooperative_pruning(
      pruning.pruned(optimizer, magnitude(keep_ratios, scope=scope)),
      pruning.pruned(optimizer, cooperative(keep_ratios, 0.0, fusion,
                                            scope=scope)),
      objective, source_steps=source_steps)
