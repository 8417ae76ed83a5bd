"""`pruned(tx, pruner)`: pruning as an optax transformation around any other.

The wrapper keeps the masks in its state and recomputes them from the
updated params as the pruner says. The loss sees the masked model through
`cj.apply_masks(params, cj.masks_of(state))`, so a training step reads

  tx = cj.pruned(optax.sgd(0.1, momentum=0.9), cj.pruners.magnitude(0.1))
  state = tx.init(params)

  def step(params, state, batch):
    masked = lambda p: cj.apply_masks(p, cj.masks_of(state))
    grads = jax.grad(lambda p: loss(masked(p), batch))(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

Masks computed in an update are those of the params after it (W + updates),
that is, of the weights the next forward pass sees: the next step is pruned
by the current weights, as in the reference implementation.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.core.pruner import Pruner

PyTree = Any


class PrunedState(NamedTuple):
  inner_state: optax.OptState  # the wrapped transformation's
  masks: PyTree  # bool arrays where pruned, None where dense
  count: jax.Array  # int32: updates so far


def _zero_pruned(tree: PyTree, masks: PyTree) -> PyTree:
  return jax.tree.map(
      lambda mask, x: x if mask is None else jnp.where(mask, x, 0).astype(
          x.dtype), masks, tree, is_leaf=lambda m: m is None)


class PrunedTransformation(optax.GradientTransformationExtraArgs):
  """What `pruned(tx, pruner)` returns: an optax transformation (it chains,
  jits and checkpoints like any) that also names its `pruner` and its
  `inner` transformation, so that callers can start it from given masks
  (`init_with_masks`) or select several pruners' masks together."""

  def __new__(cls, init, update, *, pruner: Pruner,
              inner: optax.GradientTransformation):
    transformation = super().__new__(cls, init, update)
    transformation.pruner = pruner
    transformation.inner = inner
    return transformation


def pruned(tx: optax.GradientTransformation,
           pruner: Pruner) -> PrunedTransformation:
  """Wraps `tx` so that it trains a pruned model; masks live in its state.

  `update(grads, state, params, partner_params=None, **extra_args)` needs
  `params` (masks are computed from them) and, for a cooperative pruner,
  `partner_params` (the other domain's params, e.g. the source model's).
  Other extra args reach `tx` (when it takes them) and the pruner's mask
  function (e.g. `alpha` for `pruners.cooperative`). Composes inside
  `optax.chain` and under `jax.jit`; `masks_of(state)` gives the masks.
  """
  if not isinstance(pruner, Pruner):
    raise TypeError(f"pruner must be a cj.pruners.Pruner (e.g. "
                    f"cj.pruners.magnitude(0.1)), got {type(pruner).__name__}")
  inner = optax.with_extra_args_support(tx)

  def init(params):
    _, masks = pruner.start(params)  # raises if the start needs more
    return PrunedState(inner.init(params), masks, jnp.zeros((), jnp.int32))

  def update(grads, state, params=None, *, partner_params=None, **extra_args):
    if params is None:
      raise ValueError("pruned(...).update needs params: the masks are "
                       "computed from them")
    if pruner.needs_partner and pruner.update_every and partner_params is None:
      raise ValueError("this pruner ranks fused weights of two models: pass "
                       "the other domain's params as update(..., "
                       "partner_params=...)")
    given = grads
    if pruner.gradient == "masked":
      grads = _zero_pruned(grads, state.masks)
    updates, inner_state = inner.update(grads, state.inner_state, params,
                                        **extra_args)
    if pruner.gradient == "masked":  # e.g. weight decay moves them otherwise
      updates = _zero_pruned(updates, state.masks)
    count = state.count + 1
    masks = state.masks
    if pruner.update_every:
      keep_ratios = pruner.keep_ratio_tree(params)
      new_params = optax.apply_updates(params, updates)

      def recompute():
        return pruner.masks_fn(new_params, keep_ratios, partner_params, count,
                               grads=given, masks=state.masks, **extra_args)

      if pruner.update_every == 1:
        masks = recompute()
      else:
        masks = jax.lax.cond(count % pruner.update_every == 0, recompute,
                             lambda: state.masks)
      if pruner.zero_grown:  # weights that rejoin the model start at zero
        grown = jax.tree.map(lambda new, old: new & ~old, masks, state.masks)
        updates = jax.tree.map(
            lambda is_grown, u, w: u if is_grown is None
            else jnp.where(is_grown, -w, u).astype(u.dtype),
            grown, updates, params, is_leaf=lambda m: m is None)
    return updates, PrunedState(inner_state, masks, count)

  return PrunedTransformation(init, update, pruner=pruner, inner=tx)


def init_with_masks(tx: optax.GradientTransformation, params: PyTree,
                    masks: PyTree, count=0) -> PrunedState:
  """The state of `cj.pruned(tx, pruner)` starting from given masks.

  For masks from elsewhere (a one-shot criterion such as OBD, the reference's
  pruned start, a previous stage) and for `pruners.fixed()`; `count` sets
  the number of updates so far (schedules and `update_every` read it).
  `tx` is the pruned transformation or the one it wraps; its inner state
  starts afresh (e.g. a new stage's Adam).
  """
  masks_lib.check_masks(params, masks)
  inner = tx.inner if isinstance(tx, PrunedTransformation) else tx
  return PrunedState(inner.init(params), masks, jnp.asarray(count, jnp.int32))


def masks_of(state: Any) -> PyTree:
  """The current masks in the state of a `pruned` transformation.

  `state` may be the state of a chain (or any pytree) holding exactly one
  `pruned` state. None marks the parameters that are not pruned.
  """
  found = tree_paths.nodes_of_type(state, PrunedState)
  if len(found) != 1:
    raise ValueError(f"masks_of needs a state holding one cj.pruned "
                     f"transformation's state, found {len(found)}")
  return found[0].masks
