import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj


def test_default_is_the_published_list():
  schedule = cj.alpha_schedule()
  assert schedule.values == (0.7, 0.5, 0.3)
  assert [schedule(k) for k in range(5)] == [0.7, 0.5, 0.3, 0.3, 0.3]


def test_eq7():
  schedule = cj.alpha_schedule(alpha_0=0.7, alpha_min=0.3, beta=3)
  np.testing.assert_allclose(schedule.values, [0.7, 0.7 - 0.4 / 3,
                                               0.7 - 0.8 / 3, 0.3])
  schedule = cj.alpha_schedule(alpha_0=1.0, alpha_min=0.0, beta=2.5)
  np.testing.assert_allclose(schedule.values, [1.0, 0.6, 0.2, 0.0])


def test_traced_stage():
  schedule = cj.alpha_schedule([0.9, 0.1])
  values = jax.jit(jax.vmap(schedule))(jnp.arange(4))
  np.testing.assert_allclose(values, [0.9, 0.1, 0.1, 0.1])


@pytest.mark.parametrize("kwargs", [
    dict(values=[0.7, 1.2]),
    dict(values=[]),
    dict(values=[0.5], beta=3),
    dict(alpha_0=0.7, alpha_min=0.3),
    dict(alpha_0=0.3, alpha_min=0.7, beta=3),
    dict(alpha_0=0.7, alpha_min=0.3, beta=0),
    dict(alpha_0=1.7, alpha_min=0.3, beta=3),
])
def test_bad_schedules(kwargs):
  with pytest.raises(ValueError):
    cj.alpha_schedule(**kwargs)
