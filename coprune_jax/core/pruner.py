"""The pruner interface: what `cj.pruned` needs to know of a method.

A pruner says how masks are computed (a pure, jittable function of the
params and, for cooperative methods, the other domain's params), how many
weights each parameter keeps, when the masks are recomputed, what the
update of a pruned weight sees and how training starts. The algorithms are
in `coprune_jax.pruners`, one module each.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths

PyTree = Any
# masks_fn(params, keep_ratios, partner_params, count, *, grads, masks,
#          **extra_args) -> masks; see `Pruner`.
MasksFn = Callable[..., PyTree]
GRADIENTS = ("straight_through", "masked")
INITIAL_MASKS = ("ones", "pruned")


@dataclasses.dataclass(frozen=True)
class Pruner:
  """A pruning method: its mask function and when and how it applies.

  Attributes:
    keep_ratios: the kept fraction, as `cj.keep_ratio_tree` takes it: one
      number for every weight kernel, `(regex, keep ratio)` rules, or a
      tree; None for a pruner started from given masks (`fixed`).
    masks_fn: `masks_fn(params, keep_ratios, partner_params, count, *,
      grads, masks, **extra_args) -> mask tree`, jittable; `keep_ratios` is
      the resolved keep-ratio tree, `count` the number of updates so far
      (int32), `grads` the gradients the update was given and `masks` the
      current masks (both None at init), `extra_args` the ones given to
      `update`.
    update_every: recompute the masks after every N-th update; 0 keeps the
      initial masks (fixed-mask retraining).
    gradient: "straight_through": the update sees the gradients as given
      (with `cj.apply_masks(params, masks)` in the loss, pruned weights get
      the straight-through gradient and may grow back, as in Co-Prune);
      "masked": pruned weights get no update at all (their gradients and
      updates are zeroed), whatever the optimizer (momentum, weight decay).
    initial: "ones" (the first forward pass is dense) or "pruned" (the
      mask function's masks of the initial params; a pruner that needs a
      partner gets them from `start(params, partner_params=...)`).
    needs_partner: whether `update` needs `partner_params`.
    prunable: `(name, leaf) -> bool`, the parameters keep ratios may prune.
    zero_grown: weights a mask update brings back start at zero (RigL).
    scores_fn: for pruners whose masks are the top weights of a score:
      `scores_fn(params, keep_ratios, partner_params, count, **extra_args)
      -> score tree`, with `masks_fn` the `score_masks` of those scores at
      `scope`. Declaring it lets a caller select several pruners' masks in
      one pass (the cooperative step does); None otherwise.
    scope: the ranking of `scores_fn`'s scores, "layer" or "global".
    start_fn: for one-shot pruners whose first masks come from data (OBD,
      L-OBS): `start_fn(params, keep_ratios, calibration) -> (params,
      masks)`, with a `Calibration`; see `start`.
    budget_step: the update from which the masks are at the keep ratios (a
      gradual schedule's end; 0 for pruners at the budget from the start).
  """
  keep_ratios: Any
  masks_fn: MasksFn
  update_every: int = 1
  gradient: str = "straight_through"
  initial: str = "ones"
  needs_partner: bool = False
  prunable: Callable[[str, Any], bool] = tree_paths.is_weight_kernel
  zero_grown: bool = False
  scores_fn: Optional[Callable[..., PyTree]] = None
  scope: str = "layer"
  start_fn: Optional[Callable[..., tuple[PyTree, PyTree]]] = None
  budget_step: int = 0

  def __post_init__(self):
    if self.gradient not in GRADIENTS:
      raise ValueError(f"gradient must be one of {GRADIENTS}, got "
                       f"{self.gradient!r}")
    if self.initial not in INITIAL_MASKS:
      raise ValueError(f"initial must be one of {INITIAL_MASKS}, got "
                       f"{self.initial!r}")
    if (isinstance(self.update_every, bool)
        or not isinstance(self.update_every, int) or self.update_every < 0):
      raise ValueError(f"update_every must be an integer >= 0, got "
                       f"{self.update_every!r}")

  def keep_ratio_tree(self, params: PyTree) -> PyTree:
    """The keep-ratio tree of `params` (raises ValueError on bad rules)."""
    return keep_ratios_lib.keep_ratio_tree(params, self.keep_ratios,
                                           self.prunable)

  def start(self, params: PyTree, *, partner_params: PyTree = None,
            calibration: Optional["Calibration"] = None,
            **extra_args) -> tuple[PyTree, PyTree]:
    """(params, masks) this pruner starts training from, given a trained
    model's `params`: its one-shot criterion's (`start_fn`, which reads
    `calibration` and may change the params, as L-OBS does), the mask
    function's masks of `params` (initial "pruned"; `partner_params` and
    `extra_args`, e.g. alpha, as an update gives them), or all ones.

    Raises ValueError when what the start needs is missing.
    """
    if self.keep_ratios is None:
      raise ValueError("this pruner keeps masks given to it: start it with "
                       "cj.init_with_masks(tx, params, masks)")
    keep_ratios = self.keep_ratio_tree(params)
    if self.start_fn is not None:
      if calibration is None:
        raise ValueError(
            "this pruner's first masks come from data: pass "
            "start(params, calibration=cj.pruners.Calibration(...)), then "
            "cj.init_with_masks(tx, params, masks)")
      return self.start_fn(params, keep_ratios, calibration)
    if self.initial == "ones":
      return params, masks_lib.all_ones_masks(params, keep_ratios)
    if self.needs_partner and partner_params is None:
      raise ValueError(
          "this pruner's first masks rank fused weights of two models: pass "
          "start(params, partner_params=...), then "
          "cj.init_with_masks(tx, params, masks)")
    return params, self.masks_before_updates(params, partner_params,
                                             **extra_args)

  def masks_before_updates(self, params: PyTree, partner_params: PyTree = None,
                           **extra_args) -> PyTree:
    """The mask function's masks of `params` before any update (count 0,
    no gradients and no current masks), whatever `initial` says."""
    return self.masks_fn(params, self.keep_ratio_tree(params), partner_params,
                         jnp.zeros((), jnp.int32), grads=None, masks=None,
                         **extra_args)


@dataclasses.dataclass(frozen=True)
class Calibration:
  """What a one-shot pruner's `start_fn` reads (OBD, L-OBS).

  Attributes:
    batches: `batches() -> iterable of (inputs, labels)`, the training data
      once (a fresh iterator at each call).
    logits_fn: `logits_fn(params, inputs) -> logits`, in evaluation mode.
    loss_fn: `loss_fn(params, batch) -> scalar`.
    key: a PRNG key for randomised estimates.
    module: the Flax Linen module, for criteria that read layer inputs.
    model_state: its non-trained variables (e.g. batch_stats).
  """
  batches: Callable[[], Any]
  logits_fn: Callable[[PyTree, jax.Array], jax.Array]
  loss_fn: Callable[[PyTree, Any], jax.Array]
  key: jax.Array
  module: Any = None
  model_state: PyTree = None


def top_scores(scores_fn: Callable[..., PyTree], scope: str = "layer"
               ) -> MasksFn:
  """The mask function keeping the top `scores_fn` scores at `scope` (give
  both to `Pruner` as `masks_fn` and `scores_fn`)."""
  masks_lib.check_scope(scope)

  def masks_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    return masks_lib.score_masks(
        scores_fn(params, keep_ratio_tree, partner_params, count,
                  **extra_args), keep_ratio_tree, scope)
  return masks_fn
