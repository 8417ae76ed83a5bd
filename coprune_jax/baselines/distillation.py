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
                full_widths: Sequence[int], fraction: float,
                max_offset: int = 3) -> tuple[int, ...]:
  """Layer widths whose parameter count is nearest `fraction` of the full net.

  Searches the widths within `max_offset` of the uniformly scaled ones
  ((2 max_offset + 1)^layers candidates), so the count lands near the target
  even where one uniform scale overshoots.
  """
  full = count_parameters(full_widths)
  target = fraction * full
  best, best_error = None, float("inf")
  uniform = [max(1, round(w * fraction**0.5)) for w in full_widths]
  offsets = range(-max_offset, max_offset + 1)
  for deltas in itertools.product(offsets, repeat=len(full_widths)):
    widths = tuple(max(1, u + d) for u, d in zip(uniform, deltas))
    error = abs(count_parameters(widths) - target)
    if error < best_error:
      best, best_error = widths, error
  return best


def distillation_objective(student_apply: Callable, teacher_logits: Callable,
                           temperature: float = 4.0, soft_weight: float = 0.9):
  """objective(params, model_state, (inputs, labels)) for the student.

  `student_apply(params, model_state, inputs) -> (logits, model_state)`;
  `teacher_logits(inputs)` is the fixed teacher (no gradient flows into it).
  """
  def objective(params, model_state, batch):
    inputs, labels = batch
    logits, model_state = student_apply(params, model_state, inputs)
    loss = distillation_loss(logits, teacher_logits(inputs), labels,
                             temperature, soft_weight)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    return loss, (model_state, {"loss": loss, "accuracy": accuracy})

  return objective
