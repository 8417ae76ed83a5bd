"""Gradual magnitude pruning on Zhu & Gupta's (2017) cubic schedule."""

import jax
import jax.numpy as jnp

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner


def gradual_keep_ratio(step, final_keep_ratio, begin_step: int, end_step: int,
                       initial_keep_ratio: float = 1.0):
  """Zhu & Gupta's (2017) cubic schedule, in kept fractions.

  keep(t) = k_f + (k_i - k_f) (1 - p)^3 with p = (t - t_0) / (t_1 - t_0)
  clipped to [0, 1]: k_i until `begin_step`, k_f from `end_step` on, fast
  pruning early and slow near the end. Jittable in `step`.

  >>> [round(float(gradual_keep_ratio(t, 0.1, 0, 100)), 4)
  ...  for t in (0, 50, 100, 200)]
  [1.0, 0.2125, 0.1, 0.1]
  """
  progress = jnp.clip((step - begin_step) / (end_step - begin_step), 0.0, 1.0)
  return final_keep_ratio + (initial_keep_ratio - final_keep_ratio) * (
      1.0 - progress) ** 3


def gradual_count_of(count, begin_step: int, end_step: int,
                     initial_keep_ratio: float = 1.0):
  """`count_of(size, final keep ratio)` for `score_masks` at update `count`
  of `gradual_keep_ratio`'s schedule: rounded half up in float32, exactly
  `kept_count` of the final ratio from `end_step` on."""
  def count_of(size, keep_ratio):
    now = gradual_keep_ratio(count, keep_ratio, begin_step, end_step,
                             initial_keep_ratio)
    scheduled = jnp.clip(jnp.floor(size * now + 0.5), 1,
                         size).astype(jnp.int32)
    return jnp.where(count >= end_step,
                     keep_ratios_lib.kept_count(size, keep_ratio), scheduled)
  return count_of


def gradual_magnitude(keep_ratios, *, begin_step: int, end_step: int,
                      update_every: int = 100,
                      initial_keep_ratio: float = 1.0,
                      gradient: str = "masked",
                      fixed_from_end: bool = True,
                      prunable=tree_paths.is_weight_kernel) -> Pruner:
  """Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to
  prune"): every `update_every` updates, each pruned parameter keeps its
  largest weights, as many as `gradual_keep_ratio` of its final keep ratio
  says at that update (rounded half up in float32; exactly `kept_count` of
  the final ratio from `end_step` on). The scores are the weights as they
  are: a weight pruned earlier whose frozen magnitude beats a kept one's
  comes back at a later update, as in the paper's TensorFlow code.

  Args:
    keep_ratios: the final keep ratios (see `Pruner.keep_ratios`).
    begin_step, end_step: the updates at which pruning starts and reaches
      the final ratios.
    update_every: masks are recomputed every this many updates.
    initial_keep_ratio: the kept fraction until `begin_step`.
    gradient: "masked" (pruned weights get no update, as in the paper) or
      "straight_through".
    fixed_from_end: the masks no longer change once they are at the final
      ratios (after the first update at or after `end_step`), as in the
      paper, its TensorFlow code (no mask update after its end step) and
      jaxpruner; False recomputes them every `update_every` updates to the
      end of training.
    prunable: see `Pruner`.
  """
  if not 0 <= begin_step < end_step:
    raise ValueError(f"need 0 <= begin_step < end_step, got {begin_step}, "
                     f"{end_step}")
  keep_ratios_lib.validate_keep_ratio(initial_keep_ratio,
                                      "initial_keep_ratio")

  def masks_fn(params, keep_ratio_tree, partner_params, count, *, masks=None,
               **extra_args):
    del partner_params, extra_args

    def recompute():
      return masks_lib.magnitude_masks(
          params, keep_ratio_tree,
          count_of=gradual_count_of(count, begin_step, end_step,
                                    initial_keep_ratio))
    if not fixed_from_end or masks is None:
      return recompute()
    # The previous update was at or after end_step: the masks are final.
    final = count - update_every >= end_step
    return jax.lax.cond(final, lambda: masks, recompute)

  return Pruner(keep_ratios, masks_fn, update_every, gradient, "ones",
                needs_partner=False, prunable=prunable,
                # The first mask update at or after end_step.
                budget_step=-(-end_step // max(update_every, 1))
                * max(update_every, 1))
