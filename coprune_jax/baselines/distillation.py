"""Knowledge distillation (Hinton et al. 2015) into a slim network."""

import itertools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax


def distillation_loss(student_logits: jax.Array, teacher_logits: jax.Array,
                      labels: jax.Array, temperature: float = 4.0,
                      soft_weight: float = 0.9) -> jax.Array:
  """(1 - w) CE(labels) + w T^2 KL(softmax(teacher/T) || softmax(student/T)).

  The T^2 factor keeps the soft term's gradient scale independent of T.
  """
  hard = optax.softmax_cross_entropy_with_integer_labels(student_logits,
                                                         labels)
  teacher = jax.nn.softmax(jax.lax.stop_gradient(teacher_logits) / temperature)
  student_log = jax.nn.log_softmax(student_logits / temperature)
  soft = jnp.sum(teacher * (jnp.log(jnp.clip(teacher, 1e-12)) - student_log),
                 axis=-1)
  return jnp.mean((1 - soft_weight) * hard +
                  soft_weight * temperature**2 * soft)


def slim_widths(count_parameters: Callable[[Sequence[int]], int],
                full_widths: Sequence[int], fraction: float) -> tuple[int, ...]:
  """Layer widths whose parameter count is nearest `fraction` of the full net.

  Searches per-layer scales on a grid (each width scaled by one of a few
  factors around the uniform scale), so the count can land within a small
  tolerance of the target even where one uniform scale overshoots.
  """
  full = count_parameters(full_widths)
  target = fraction * full
  best, best_error = None, float("inf")
  uniform = [max(1, round(w * fraction**0.5)) for w in full_widths]
  offsets = range(-3, 4)
  for deltas in itertools.product(offsets, repeat=len(full_widths)):
    widths = tuple(max(1, u + d) for u, d in zip(uniform, deltas))
    error = abs(count_parameters(widths) - target)
    if error < best_error:
      best, best_error = widths, error
  return best
