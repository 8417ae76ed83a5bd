"""Sparse training from scratch: SET and RigL's drop-and-grow mask updates."""

import jax
import jax.numpy as jnp

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner
from coprune_jax.pruners._random import key_of
from coprune_jax.pruners._random import random_scores_masks


def cosine_drop_fraction(step, drop_fraction: float, end_step: int):
  """RigL's drop-fraction decay: drop_fraction (1 + cos(pi t / T)) / 2
  until `end_step`, then 0 (the topology stops changing).

  >>> [round(float(cosine_drop_fraction(t, 0.3, 100)), 3)
  ...  for t in (0, 50, 100, 150)]
  [0.3, 0.15, 0.0, 0.0]
  """
  progress = jnp.clip(step / end_step, 0.0, 1.0)
  return drop_fraction * (1.0 + jnp.cos(jnp.pi * progress)) / 2.0


def _drop_and_grow(grow_scores, drop_fraction, end_step, seed):
  """masks_fn of the sparse-training methods: every mask update drops the
  smallest |w| of the kept weights (a cosine-decayed fraction of them) and
  grows as many of the others, those with the largest `grow_scores`; the
  kept count of each parameter never changes."""
  def masks_fn(params, keep_ratio_tree, partner_params, count, *, grads,
               masks, **extra_args):
    del partner_params, extra_args
    if masks is None:  # init: a random topology with the exact counts
      return random_scores_masks(params, keep_ratio_tree, seed, count)
    fraction = cosine_drop_fraction(count, drop_fraction, end_step)

    def survivor_count(size, keep_ratio):
      kept = keep_ratios_lib.kept_count(size, keep_ratio)
      dropped = jnp.clip(jnp.floor(fraction * kept), 0, kept - 1)
      return (kept - dropped).astype(jnp.int32)

    kept_magnitudes = tree_paths.map_with_names(
        lambda _, keep_ratio, w, mask: None if keep_ratio is None
        else jnp.where(mask, jnp.abs(w), -jnp.inf),
        keep_ratio_tree, params, masks)
    survivors = masks_lib.score_masks(kept_magnitudes, keep_ratio_tree,
                                      count_of=survivor_count)
    key = jax.random.fold_in(jax.random.key(seed), count)
    # Survivors rank first; the best others fill the freed places.
    ranked = tree_paths.map_with_names(
        lambda name, keep_ratio, w, g, survivor: None if keep_ratio is None
        else jnp.where(survivor, jnp.inf,
                       grow_scores(key_of(key, name), w, g)),
        keep_ratio_tree, params, grads, survivors)
    return masks_lib.score_masks(ranked, keep_ratio_tree)
  return masks_fn


def sparse_evolutionary(keep_ratios, *, end_step: int,
                        drop_fraction: float = 0.3, update_every: int = 100,
                        seed: int = 0, prunable=tree_paths.is_weight_kernel
                        ) -> Pruner:
  """SET (Mocanu et al. 2018), sparse training from scratch: a random
  topology with the exact kept counts; every `update_every` updates until
  `end_step`, drop the smallest kept weights and grow as many at random
  (new ones start at zero). The drop fraction decays as in RigL.
  """
  grow = lambda key, w, g: jax.random.uniform(key, w.shape)
  return Pruner(keep_ratios, _drop_and_grow(grow, drop_fraction, end_step,
                                            seed),
                update_every, "masked", "pruned", needs_partner=False,
                prunable=prunable, zero_grown=True)


def rigl(keep_ratios, *, end_step: int, drop_fraction: float = 0.3,
         update_every: int = 100, seed: int = 0,
         prunable=tree_paths.is_weight_kernel) -> Pruner:
  """RigL (Evci et al. 2020): as SET, but grows the weights of largest
  dense gradient |g| (compute the loss on `cj.apply_masks(params, masks)`,
  whose straight-through gradient is dense); new weights start at zero (a
  weight dropped and regrown in the same update keeps its value).
  """
  grow = lambda key, w, g: jnp.abs(g)
  return Pruner(keep_ratios, _drop_and_grow(grow, drop_fraction, end_step,
                                            seed),
                update_every, "masked", "pruned", needs_partner=False,
                prunable=prunable, zero_grown=True)
