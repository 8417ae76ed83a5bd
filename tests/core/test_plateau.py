import jax
import numpy as np
import optax

import coprune_jax as cj


def run(losses, state=None):
  state = cj.plateau.plateau_init(1e-3) if state is None else state
  for loss in losses:
    state = cj.plateau.plateau_update(state, loss)
  return state


def test_reduces_after_three_epochs_without_improvement():
  state = run([1.0, 0.9, 0.9, 0.95])
  assert np.isclose(float(state.learning_rate), 1e-3)
  state = run([1.0], state)
  assert np.isclose(float(state.learning_rate), 1e-4)
  assert int(state.epochs_without_improvement) == 0


def test_improvement_resets_the_count():
  state = run([1.0, 1.1, 1.2, 0.5, 0.6, 0.7])
  assert np.isclose(float(state.learning_rate), 1e-3)
  assert int(state.epochs_without_improvement) == 2
  assert int(state.epoch) == 6


def test_optimum_after_four_reductions_not_three():
  state = run([1.0] * 10)  # 1 + 3 * 3 epochs: three reductions, lr ~ 1e-6
  assert np.isclose(float(state.learning_rate), 1e-6)
  assert not bool(cj.plateau.reached_optimum(state))
  state = run([1.0] * 3, state)
  assert bool(cj.plateau.reached_optimum(state))


def test_epoch_cap():
  state = run([1.0 - 0.01 * i for i in range(5)])
  assert not bool(cj.plateau.reached_optimum(state, max_epochs=6))
  assert bool(cj.plateau.reached_optimum(state, max_epochs=5))


def test_jittable_and_a_pytree():
  update = jax.jit(cj.plateau.plateau_update)
  state = cj.plateau.plateau_init()
  for loss in [1.0, 1.0, 1.0, 1.0]:
    state = update(state, loss)
  assert np.isclose(float(state.learning_rate), 1e-4)
  assert len(jax.tree.leaves(state)) == 4


def test_plateau_transformation_is_the_steps_adam_and_lr_rule():
  """chain(scale_by_adam, scale_by_plateau) is Adam scaled by the lr of
  plateau_update, bit for bit."""
  params = {"w": jax.random.normal(jax.random.key(0), (8, 4))}
  grads = [{"w": jax.random.normal(jax.random.key(i), (8, 4))}
           for i in range(1, 4)]
  tx = optax.chain(optax.scale_by_adam(), cj.plateau.scale_by_plateau(1e-3))
  state = tx.init(params)
  adam = optax.scale_by_adam()
  adam_state = adam.init(params)
  plateau = cj.plateau.plateau_init(1e-3)
  for epoch_loss in (1.0, 1.0, 1.0, 1.0, 1.0):
    for g in grads:
      updates, state = tx.update(g, state, params)
      reference, adam_state = adam.update(g, adam_state, params)
      reference = jax.tree.map(lambda u: -plateau.learning_rate * u, reference)
      for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(reference)):
        np.testing.assert_array_equal(a, b)
    state = cj.plateau.plateau_end_epoch(state, epoch_loss)
    plateau = cj.plateau.plateau_update(plateau, epoch_loss)
    assert cj.plateau.plateau_of(state) == plateau
  assert np.isclose(float(cj.plateau.plateau_of(state).learning_rate), 1e-4)
  with np.testing.assert_raises(ValueError):
    cj.plateau.plateau_of(optax.adam(1e-3).init(params))
