import jax
import jax.numpy as jnp
import numpy as np
import optax

from coprune_jax.baselines import distillation
from coprune_jax.models import CifarNet
from coprune_jax.models.cifar_net import cifar_net_parameter_count


def built_parameter_count(widths):
  shapes = jax.eval_shape(lambda: CifarNet(9, tuple(widths)).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
  return sum(x.size for x in jax.tree.leaves(shapes))


def test_slim_cifar_net_has_the_requested_fraction_of_parameters():
  full_widths = (32, 32, 64, 64)
  assert cifar_net_parameter_count(full_widths) == 116640 + 201
  widths = distillation.slim_widths(cifar_net_parameter_count, full_widths,
                                    0.104)
  # The analytic count is the built network's count.
  assert cifar_net_parameter_count(widths) == built_parameter_count(widths)
  fraction = built_parameter_count(widths) / built_parameter_count(full_widths)
  assert abs(fraction - 0.104) < 0.01 * 0.104, (widths, fraction)


def test_loss_reduces_to_cross_entropy_without_soft_targets():
  student = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
  labels = jnp.array([0, 2])
  ce = optax.softmax_cross_entropy_with_integer_labels(student, labels).mean()
  np.testing.assert_allclose(
      distillation.distillation_loss(student, student * 0, labels,
                                     soft_weight=0.0), ce, rtol=1e-6)


def test_soft_term_is_zero_when_student_matches_teacher():
  logits = jnp.array([[2.0, 0.5, -1.0]])
  loss = distillation.distillation_loss(logits, logits, jnp.array([0]),
                                        temperature=3.0, soft_weight=1.0)
  np.testing.assert_allclose(loss, 0.0, atol=1e-6)
  worse = distillation.distillation_loss(-logits, logits, jnp.array([0]),
                                         temperature=3.0, soft_weight=1.0)
  assert float(worse) > 0.1
