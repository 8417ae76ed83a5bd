"""Plateau learning-rate control for Adam, as a checkpointable pytree.

The reference protocol: Adam at lr 1e-3; lr x 0.1 when the monitored
training loss has not improved for 3 consecutive epochs; the current stage has
reached its "optimum" once lr falls below 1e-6, or after a maximum number of
epochs. All functions are pure and jittable; call `plateau_update` once per
epoch with that epoch's mean loss.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from coprune_jax.core import tree_paths

# 1e-3 * 0.1**3 lands on either side of 1e-6 depending on the float type;
# "below" must mean below by more than rounding noise.
_RELATIVE_TOLERANCE = 1e-3


class PlateauState(NamedTuple):
  learning_rate: jnp.ndarray  # float32 scalar
  best_loss: jnp.ndarray  # float32 scalar, +inf before the first epoch
  epochs_without_improvement: jnp.ndarray  # int32 scalar
  epoch: jnp.ndarray  # int32 scalar: epochs seen in this stage


def plateau_init(learning_rate: float = 1e-3) -> PlateauState:
  if not learning_rate > 0:
    raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
  return PlateauState(
      learning_rate=jnp.asarray(learning_rate, jnp.float32),
      best_loss=jnp.asarray(jnp.inf, jnp.float32),
      epochs_without_improvement=jnp.zeros((), jnp.int32),
      epoch=jnp.zeros((), jnp.int32))


def plateau_update(state: PlateauState, epoch_loss, patience: int = 3,
                   factor: float = 0.1) -> PlateauState:
  """Records one epoch's monitored loss and lowers lr after a plateau.

  >>> state = plateau_init(1e-3)
  >>> for loss in [1.0, 0.9, 0.95, 0.91, 0.92]:
  ...   state = plateau_update(state, loss)
  >>> round(float(state.learning_rate), 9), int(state.epochs_without_improvement)
  (0.0001, 0)
  """
  epoch_loss = jnp.asarray(epoch_loss, jnp.float32)
  improved = epoch_loss < state.best_loss
  bad_epochs = jnp.where(improved, 0, state.epochs_without_improvement + 1)
  reduce = bad_epochs >= patience
  return PlateauState(
      learning_rate=jnp.where(reduce, state.learning_rate * factor,
                              state.learning_rate),
      best_loss=jnp.minimum(epoch_loss, state.best_loss),
      epochs_without_improvement=jnp.where(reduce, 0, bad_epochs),
      epoch=state.epoch + 1)


def reached_optimum(state: PlateauState, min_learning_rate: float = 1e-6,
                    max_epochs: int = 100):
  """True once lr is below `min_learning_rate` or `max_epochs` have passed.

  >>> state = plateau_init(1e-3)
  >>> for _ in range(12):
  ...   state = plateau_update(state, 1.0)
  >>> bool(reached_optimum(state))  # 1e-3 -> 1e-6 after 3 plateaus: not below
  False
  >>> for _ in range(3):
  ...   state = plateau_update(state, 1.0)
  >>> bool(reached_optimum(state))
  True
  """
  below = state.learning_rate < min_learning_rate * (1 - _RELATIVE_TOLERANCE)
  return below | (state.epoch >= max_epochs)


def scale_by_plateau(learning_rate: float = 1e-3
                     ) -> optax.GradientTransformation:
  """The plateau-controlled learning rate as an optax transformation.

  Scales updates by -lr, the lr of a `PlateauState` kept in its state:
  `optax.chain(optax.scale_by_adam(), scale_by_plateau(1e-3))` is Adam
  under the reference's lr rule. At the end of each epoch, feed the epoch's
  mean training loss with `plateau_end_epoch(opt_state, loss)`; the next
  updates use the new lr, and `plateau_of(opt_state)` gives the state for
  `reached_optimum`.

  Why not `optax.contrib.reduce_on_plateau`: it has the same rule (with
  rtol = atol = 0, cooldown 0) but takes the monitored value at every
  update and averages it itself in float32, while the protocol monitors the
  epoch's mean loss computed where the epoch ends; near-ties could then
  flip a reduction.
  """
  def init(params):
    del params
    return plateau_init(learning_rate)

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u: (-state.learning_rate * u).astype(u.dtype),
                        updates), state

  return optax.GradientTransformation(init, update)


def adam_with_plateau(learning_rate: float = 1e-3
                      ) -> optax.GradientTransformation:
  """Co-Prune's default optimizer: Adam, lr set by the plateau control.

  Bit for bit `optax.adam(learning_rate)` until the plateau control lowers
  the rate (`end_epoch`).
  """
  return optax.chain(optax.scale_by_adam(),
                     scale_by_plateau(learning_rate))


def _is_plateau(node) -> bool:
  return isinstance(node, PlateauState)


def plateau_of(opt_state) -> PlateauState:
  """The one `PlateauState` inside an optimizer state (e.g. of a chain)."""
  found = tree_paths.nodes_of_type(opt_state, PlateauState)
  if len(found) != 1:
    raise ValueError(f"expected one scale_by_plateau state, found "
                     f"{len(found)}")
  return found[0]


def plateau_end_epoch(opt_state, epoch_loss, patience: int = 3,
                      factor: float = 0.1):
  """`opt_state` with its plateau control fed one epoch's mean loss."""
  plateau_of(opt_state)  # exactly one
  return jax.tree.map(
      lambda s: plateau_update(s, epoch_loss, patience, factor)
      if _is_plateau(s) else s, opt_state, is_leaf=_is_plateau)
