"""Co-Prune inside your own Flax NNX training loop: AdamW, a cosine
schedule and a BatchNorm model, with `cj.pruned`.

Two domains share a task (which half of the image is brighter) but differ
in contrast and noise; the target has few labels. Each domain is trained by
its own pruned optimizer: the source keeps its largest weights, the target
keeps the largest of alpha W_s + (1 - alpha) W_t (the paper's fusion).

  python examples/coprune_nnx.py
"""
import jax
import jax.numpy as jnp
import optax
from flax import nnx

import coprune_jax as cj


class Net(nnx.Module):
  def __init__(self, rngs: nnx.Rngs):
    self.conv = nnx.Conv(1, 16, (3, 3), rngs=rngs)
    self.norm = nnx.BatchNorm(16, rngs=rngs)
    self.fc = nnx.Linear(16, 2, rngs=rngs)

  def __call__(self, x):
    x = nnx.relu(self.norm(self.conv(x)))
    return self.fc(x.mean(axis=(1, 2)))


def domain(key, size, contrast, noise):
  """Images whose label says which half is brighter."""
  keys = jax.random.split(key, 2)
  labels = jax.random.bernoulli(keys[0], 0.5, (size,)).astype(jnp.int32)
  halves = jnp.where(jnp.arange(8) < 4, 1.0, -1.0)[None, :, None, None]
  signal = contrast * jnp.where(labels[:, None, None, None] == 1, 1, -1)
  images = signal * halves + noise * jax.random.normal(keys[1], (size, 8, 8, 1))
  return images, labels


def main(steps: int = 200, keep: float = 0.2, alpha: float = 0.5,
         seed: int = 0):
  keys = jax.random.split(jax.random.key(seed), 3)
  source_data = domain(keys[0], 512, contrast=1.0, noise=1.0)
  target_data = domain(keys[1], 32, contrast=0.5, noise=1.0)  # few labels
  target_test = domain(keys[2], 512, contrast=0.5, noise=1.0)

  graphdef, params, stats = nnx.split(Net(nnx.Rngs(seed)), nnx.Param,
                                      nnx.BatchStat)
  schedule = optax.cosine_decay_schedule(1e-2, steps)
  source_tx = cj.pruned(optax.adamw(schedule), cj.pruners.magnitude(keep))
  target_tx = cj.pruned(optax.adamw(schedule),
                        cj.pruners.cooperative(keep, alpha=alpha))

  def loss_fn(params, stats, opt_state, batch):
    masked = cj.apply_masks(params, cj.masks_of(opt_state))
    model = nnx.merge(graphdef, masked, stats, copy=True)
    logits = model(batch[0])  # BatchNorm in training mode updates stats
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch[1])
    return loss.mean(), nnx.state(model, nnx.BatchStat)

  def train_step(tx, domain_state, batch, **partner):
    params, stats, opt_state = domain_state
    grads, stats = jax.grad(loss_fn, has_aux=True)(params, stats, opt_state,
                                                   batch)
    updates, opt_state = tx.update(grads, opt_state, params, **partner)
    return optax.apply_updates(params, updates), stats, opt_state

  @jax.jit
  def coprune_step(source, target):
    """Two ordinary steps; the target's masks see the updated source."""
    source = train_step(source_tx, source, source_data)
    target = train_step(target_tx, target, target_data,
                        partner_params=source[0])
    return source, target

  # Both start from the same weights, as when the target is fine-tuned from
  # the source model.
  source = (params, stats, source_tx.init(params))
  target = (params, stats, target_tx.init(params))
  for _ in range(steps):
    source, target = coprune_step(source, target)

  params, stats, opt_state = target
  masks = cj.masks_of(opt_state)
  model = nnx.merge(graphdef, cj.apply_masks(params, masks,
                                             straight_through=False), stats)
  model.eval()  # BatchNorm uses its running statistics
  accuracy = jnp.mean(model(target_test[0]).argmax(-1) == target_test[1])
  return float(accuracy), cj.kept_counts(masks), stats


if __name__ == "__main__":
  accuracy, kept, _ = main()
  print(f"target test accuracy {accuracy:.3f}, kept weights {kept}")
