"""Magnitude pruning of one model by wrapping an existing optimizer.

  python examples/magnitude_pruning.py
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import coprune_jax as cj


def main(steps: int = 300, keep: float = 0.1, seed: int = 0):
  x = jax.random.normal(jax.random.key(seed), (512, 20))
  y = (x[:, :5].sum(-1) > 0).astype(jnp.int32)  # a task 5 inputs decide
  model = nn.Sequential([nn.Dense(64), nn.relu, nn.Dense(2)])
  params = model.init(jax.random.key(seed + 1), x)["params"]
  # Any optax optimizer; the masks live in its state.
  tx = cj.pruned(optax.adamw(1e-2), cj.pruners.magnitude(keep))
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    def loss(p):
      logits = model.apply({"params": cj.apply_masks(p, cj.masks_of(state))}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(steps):
    params, state = step(params, state)
  pruned = cj.apply_masks(params, cj.masks_of(state), straight_through=False)
  accuracy = jnp.mean(model.apply({"params": pruned}, x).argmax(-1) == y)
  return float(accuracy), cj.kept_counts(cj.masks_of(state))


if __name__ == "__main__":
  print("train accuracy %.3f, kept weights %s" % main())
