"""Plateau learning-rate control for Adam, as a checkpointable pytree.

The reference protocol: Adam at lr 1e-3; lr x 0.1 when the monitored
training loss has not improved for 3 consecutive epochs; the current stage has
reached its "optimum" once lr falls below 1e-6, or after a maximum number of
epochs. All functions are pure and jittable; call `plateau_update` once per
epoch with that epoch's mean loss.
"""

from typing import NamedTuple

import jax.numpy as jnp

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
