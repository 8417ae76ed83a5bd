"""Transfer-factor schedules: alpha as a pure function of the stage index."""

import dataclasses
import math
from typing import Optional, Sequence

import jax.numpy as jnp

# The setting with reported numbers (paper Table 3 and the released code).
DEFAULT_ALPHAS = (0.7, 0.5, 0.3)


@dataclasses.dataclass(frozen=True)
class AlphaSchedule:
  """alpha for each stage; stages past the last keep the last value.

  >>> schedule = alpha_schedule()
  >>> schedule.num_stages, schedule(0), schedule(2), schedule(9)
  (3, 0.7, 0.3, 0.3)
  """
  values: tuple[float, ...]

  @property
  def num_stages(self) -> int:
    return len(self.values)

  def __call__(self, stage):
    """alpha at `stage` (a Python int, or a traced integer inside jit)."""
    if isinstance(stage, int):
      if stage < 0:
        raise ValueError(f"stage must be >= 0, got {stage}")
      return self.values[min(stage, self.num_stages - 1)]
    index = jnp.clip(stage, 0, self.num_stages - 1)
    return jnp.asarray(self.values, jnp.float32)[index]


def _check_alpha_value(value, what: str) -> float:
  value = float(value)
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"{what} must be in [0, 1], got {value}")
  return value


def alpha_schedule(values: Optional[Sequence[float]] = None, *,
                   alpha_0: Optional[float] = None,
                   alpha_min: Optional[float] = None,
                   beta: Optional[float] = None) -> AlphaSchedule:
  """An explicit list of alphas, or Eq. 7 from (alpha_0, alpha_min, beta).

  Eq. 7: alpha_k = alpha_0 - k (alpha_0 - alpha_min) / beta, clipped to
  [alpha_min, alpha_0]; the schedule ends at the first stage reaching
  alpha_min. With neither, the list 0.7 -> 0.5 -> 0.3.

  >>> [round(a, 3) for a in alpha_schedule(alpha_0=0.7, alpha_min=0.3, beta=3).values]
  [0.7, 0.567, 0.433, 0.3]
  >>> alpha_schedule([0.7, 0.5, 0.3]).values
  (0.7, 0.5, 0.3)
  """
  eq7_args = (alpha_0, alpha_min, beta)
  if values is not None:
    if any(a is not None for a in eq7_args):
      raise ValueError("give either a list of alphas or alpha_0, alpha_min "
                       "and beta, not both")
    values = tuple(_check_alpha_value(a, f"alpha at stage {i}")
                   for i, a in enumerate(values))
    if not values:
      raise ValueError("the list of alphas is empty")
    return AlphaSchedule(values)
  if all(a is None for a in eq7_args):
    return AlphaSchedule(DEFAULT_ALPHAS)
  if any(a is None for a in eq7_args):
    raise ValueError("Eq. 7 needs all of alpha_0, alpha_min and beta")
  alpha_0 = _check_alpha_value(alpha_0, "alpha_0")
  alpha_min = _check_alpha_value(alpha_min, "alpha_min")
  if alpha_min > alpha_0:
    raise ValueError(f"alpha_min ({alpha_min}) must not exceed alpha_0 "
                     f"({alpha_0})")
  if not beta > 0 or math.isinf(beta):
    raise ValueError(f"beta must be a positive finite number, got {beta}")
  num_stages = math.ceil(beta) + 1 if alpha_min < alpha_0 else 1
  return AlphaSchedule(tuple(
      max(alpha_min, alpha_0 - k * (alpha_0 - alpha_min) / beta)
      for k in range(num_stages)))
