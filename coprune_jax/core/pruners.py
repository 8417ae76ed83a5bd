"""Pruners: pruning methods as `cj.pruned` applies them to any optimizer.

A pruner says how masks are computed (a pure, jittable function of the
params and, for cooperative methods, the other domain's params), how many
weights each parameter keeps, when the masks are recomputed and what the
update of a pruned weight sees:

  tx = cj.pruned(optax.adamw(1e-3), cj.pruners.magnitude(0.1))
  tx = cj.pruned(optax.adam(1e-3), cj.pruners.cooperative(0.1, alpha=0.5))

New methods are new `Pruner`s: a mask function plus its update policy,
and a line in `PRUNERS`. Here: magnitude, cooperative (Co-Prune), fixed
(retraining after one-shot pruning), DNS, gradual magnitude (Zhu & Gupta),
random, saliency (SNIP), N:M, SET and RigL.
"""

import dataclasses
import zlib
from typing import Any, Callable, Optional, Union

import jax
import jax.numpy as jnp

from coprune_jax.baselines import dns as dns_lib
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
    initial: "ones" (the first forward pass is dense) or "pruned" (masks of
      the initial params; not for pruners that need a partner).
    needs_partner: whether `update` needs `partner_params`.
    prunable: `(name, leaf) -> bool`, the parameters keep ratios may prune.
    zero_grown: weights a mask update brings back start at zero (RigL).
    scores_fn: for pruners whose masks are the top weights of a score:
      `scores_fn(params, keep_ratios, partner_params, count, **extra_args)
      -> score tree`, with `masks_fn` the `score_masks` of those scores at
      `scope`. Declaring it lets a caller select several pruners' masks in
      one pass (the cooperative step does); None otherwise.
    scope: the ranking of `scores_fn`'s scores, "layer" or "global".
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

  def __post_init__(self):
    if self.gradient not in GRADIENTS:
      raise ValueError(f"gradient must be one of {GRADIENTS}, got "
                       f"{self.gradient!r}")
    if self.initial not in INITIAL_MASKS:
      raise ValueError(f"initial must be one of {INITIAL_MASKS}, got "
                       f"{self.initial!r}")
    if self.initial == "pruned" and self.needs_partner:
      raise ValueError("initial='pruned' needs the partner's params, which "
                       "init does not see; start from 'ones'")
    if (isinstance(self.update_every, bool)
        or not isinstance(self.update_every, int) or self.update_every < 0):
      raise ValueError(f"update_every must be an integer >= 0, got "
                       f"{self.update_every!r}")

  def keep_ratio_tree(self, params: PyTree) -> PyTree:
    """The keep-ratio tree of `params` (raises ValueError on bad rules)."""
    return keep_ratios_lib.keep_ratio_tree(params, self.keep_ratios,
                                           self.prunable)


def magnitude(keep_ratios, *, scope: str = "layer", update_every: int = 1,
              gradient: str = "straight_through", initial: str = "ones",
              prunable=tree_paths.is_weight_kernel) -> Pruner:
  """Keeps the largest-magnitude weights, |w|, of each pruned parameter.

  The defaults recompute the masks after every update with straight-through
  gradients (dynamic magnitude pruning); `update_every=0, initial="pruned",
  gradient="masked"` prunes once and retrains the kept weights.

  Args:
    keep_ratios: see `Pruner.keep_ratios`.
    scope: "layer" (exact count per parameter) or "global" (one ranking
      over all pruned parameters), as in `cj.score_masks`.
    update_every, gradient, initial, prunable: see `Pruner`.
  """
  masks_lib.check_scope(scope)

  def scores_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    del partner_params, count, extra_args
    return masks_lib.magnitudes(params, keep_ratio_tree)

  return Pruner(keep_ratios, _top_scores(scores_fn, scope), update_every,
                gradient, initial, needs_partner=False, prunable=prunable,
                scores_fn=scores_fn, scope=scope)


def _top_scores(scores_fn, scope: str) -> MasksFn:
  """The masks_fn keeping the top `scores_fn` scores at `scope`."""
  def masks_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    return masks_lib.score_masks(
        scores_fn(params, keep_ratio_tree, partner_params, count,
                  **extra_args), keep_ratio_tree, scope)
  return masks_fn


def cooperative(keep_ratios, alpha: Union[float, Callable[[Any], Any]],
                fusion: Union[str, masks_lib.Fusion] = "signed", *,
                scope: str = "layer", update_every: int = 1,
                gradient: str = "straight_through",
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
      update, e.g. from a stage controller that holds alpha in its state.
    fusion: "signed", "magnitude" (alpha |W_s| + (1 - alpha) |W_t|, the
      released code's), either with "_matched" (each layer divided by its
      mean magnitude first, `masks.scale_matched`), or `(source_w,
      target_w, alpha) -> scores`.
    scope, update_every, gradient, prunable: as in `magnitude`.
    hysteresis: > 0 updates the masks by DNS-style surgery on the fused
      scores instead of taking their top k: cut below (1 - h) c, keep above
      (1 + h) c, the current state in between, with the centre c placed so
      that each layer keeps its count (`baselines.dns.budget_thresholds`);
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
  if not callable(alpha):
    masks_lib.check_alpha(alpha)

  def scores_fn(params, keep_ratio_tree, partner_params, count,
                **extra_args):
    tree_paths.check_same_layout(partner_params, params, "partner_params",
                                 "params")
    if "alpha" in extra_args:
      current = extra_args["alpha"]
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
              dns_lib.surgery(score, mask, *dns_lib.budget_thresholds(
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
    masks_fn = _top_scores(scores_fn, scope)
  plain_top_k = not hysteresis and not gradual_steps
  return Pruner(keep_ratios, masks_fn, update_every, gradient, "ones",
                needs_partner=True, prunable=prunable,
                scores_fn=scores_fn if plain_top_k else None, scope=scope)


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
                needs_partner=False, prunable=prunable)


def random(keep_ratios, *, seed: int = 0, update_every: int = 0,
           gradient: str = "masked", prunable=tree_paths.is_weight_kernel
           ) -> Pruner:
  """Keeps a uniformly random subset of each pruned parameter (the exact
  count), drawn once at init by default: the baseline every pruning method
  must beat. With `update_every=N` a new subset is drawn every N updates.
  """
  def masks_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    del partner_params, extra_args
    return _random_scores_masks(params, keep_ratio_tree, seed, count)

  return Pruner(keep_ratios, masks_fn, update_every, gradient, "pruned",
                needs_partner=False, prunable=prunable)


def saliency(keep_ratios, *, update_every: int = 1,
             gradient: str = "straight_through",
             prunable=tree_paths.is_weight_kernel) -> Pruner:
  """Keeps the weights of largest saliency |w * g| (SNIP's connection
  sensitivity, Lee et al. 2019), with g the gradient the update was given.
  Masks start all ones (init sees no gradient) and are recomputed every
  `update_every` updates. SNIP prunes once, at the first update: take
  `cj.masks_of(state)` after it and go on with fixed masks.
  """
  def masks_fn(params, keep_ratio_tree, partner_params, count, *, grads,
               **extra_args):
    del partner_params, count, extra_args
    scores = tree_paths.map_with_names(
        lambda _, keep_ratio, w, g: None if keep_ratio is None
        else jnp.abs(w * g), keep_ratio_tree, params, grads)
    return masks_lib.score_masks(scores, keep_ratio_tree)

  return Pruner(keep_ratios, masks_fn, update_every, gradient, "ones",
                needs_partner=False, prunable=prunable)


def n_of_m_mask(weight: jax.Array, n: int, m: int) -> jax.Array:
  """Keeps the n largest |w| of every m consecutive weights along the input
  dimension (axis -2) of a kernel; ties go to the lower index.

  >>> n_of_m_mask(jnp.array([[1.], [-4.], [3.], [2.]]), 2, 4)[:, 0].tolist()
  [False, True, True, False]
  """
  if weight.ndim < 2 or weight.shape[-2] % m:
    raise ValueError(f"an {n}:{m} pattern needs kernels whose input "
                     f"dimension (axis -2) divides by {m}, got shape "
                     f"{weight.shape}")
  inputs_last = jnp.moveaxis(jnp.abs(weight), -2, -1)
  groups = inputs_last.reshape(inputs_last.shape[:-1] + (-1, m))
  # Rank within each group: by magnitude, then by position (stable sort).
  order = jnp.argsort(-groups, axis=-1, stable=True)
  rank = jnp.argsort(order, axis=-1, stable=True)
  keep = (rank < n).reshape(inputs_last.shape)
  return jnp.moveaxis(keep, -1, -2)


def n_of_m(n: int, m: int, *, parameters: str = ".*", update_every: int = 1,
           gradient: str = "straight_through",
           prunable=tree_paths.is_weight_kernel) -> Pruner:
  """N:M structured sparsity (e.g. 2:4, which sparse tensor cores run):
  in every group of m consecutive weights along a kernel's input dimension,
  the n largest are kept.

  Args:
    n, m: keep n of every m, 0 < n <= m.
    parameters: regex (re.fullmatch) of the prunable parameters to prune.
    update_every, gradient, prunable: see `Pruner`.
  """
  if not 0 < n <= m:
    raise ValueError(f"need 0 < n <= m, got {n}:{m}")

  def masks_fn(params, keep_ratio_tree, partner_params, count, **extra_args):
    del partner_params, count, extra_args
    return tree_paths.map_with_names(
        lambda _, keep_ratio, w: None if keep_ratio is None
        else n_of_m_mask(w, n, m), keep_ratio_tree, params)

  return Pruner([(parameters, n / m)], masks_fn, update_every, gradient,
                "ones", needs_partner=False, prunable=prunable)


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
      return _random_scores_masks(params, keep_ratio_tree, seed, count)
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
                       grow_scores(_key_of(key, name), w, g)),
        keep_ratio_tree, params, grads, survivors)
    return masks_lib.score_masks(ranked, keep_ratio_tree)
  return masks_fn


def _key_of(key, name: str):
  """A key per parameter name: draws do not depend on the tree's order."""
  return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def _random_scores_masks(params, keep_ratio_tree, seed, count):
  key = jax.random.fold_in(jax.random.key(seed), count)
  scores = tree_paths.map_with_names(
      lambda name, keep_ratio, w: None if keep_ratio is None
      else jax.random.uniform(_key_of(key, name), w.shape),
      keep_ratio_tree, params)
  return masks_lib.score_masks(scores, keep_ratio_tree)


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


def fixed(gradient: str = "masked") -> Pruner:
  """Keeps the masks it is started with (`cj.init_with_masks`): retraining
  after one-shot pruning (LWC, OBD, L-OBS, one-time Co-Prune).

  gradient: "masked" (pruned weights stay as they are) or "straight_through".
  """
  def masks_fn(params, keep_ratio_tree, partner_params, count, *, masks,
               **extra_args):
    del params, keep_ratio_tree, partner_params, count, extra_args
    return masks

  return Pruner(None, masks_fn, update_every=0, gradient=gradient)


def dns(keep_ratios, *, seed: int = 0, hysteresis: float = 0.1,
        gamma: float = 1e-4, power: float = 1.0,
        centre: str = "budget") -> Pruner:
  """Dynamic network surgery (Guo et al. 2016): after each update, with
  probability (1 + gamma * t)^-power, cut weights below and splice back
  weights above a band of +-`hysteresis` around a centre (`baselines.dns`):
  by default placed so that each layer keeps its count ("budget"), or the
  layer's k-th largest magnitude ("kth", whose count drifts).
  Straight-through gradients. Start it from masks (`cj.init_with_masks`,
  e.g. the magnitude masks): an update keeps the mask state of weights
  inside the band. The random draw of update t comes from `seed` and t.
  """
  if centre not in dns_lib.CENTRES:
    raise ValueError(f"centre must be one of {dns_lib.CENTRES}, got "
                     f"{centre!r}")
  base_key = jax.random.key(seed)

  def masks_fn(params, keep_ratio_tree, partner_params, count, *, masks,
               **extra_args):
    del partner_params, extra_args
    iteration = count - 1  # updates before this one
    return dns_lib.dns_masks(params, masks, keep_ratio_tree,
                             jax.random.fold_in(base_key, iteration),
                             iteration, hysteresis, gamma, power, centre)

  return Pruner(keep_ratios, masks_fn, update_every=1,
                gradient="straight_through")


# Looked up by name, e.g. from experiment configs.
PRUNERS = {"magnitude": magnitude, "cooperative": cooperative,
           "fixed": fixed, "dns": dns,
           "gradual_magnitude": gradual_magnitude, "random": random,
           "saliency": saliency, "n_of_m": n_of_m,
           "sparse_evolutionary": sparse_evolutionary, "rigl": rigl}


def by_name(name: str, **kwargs) -> Pruner:
  if name not in PRUNERS:
    raise ValueError(f"unknown pruner {name!r}; known: {sorted(PRUNERS)}")
  return PRUNERS[name](**kwargs)
