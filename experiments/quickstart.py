"""Quickstart: Co-Prune on two small generated domains, with the core API only.

Offline and fast (about a minute on 2 CPU cores). Source: abundant labelled
images of 10 procedurally generated classes. Target: the same classes in
another style (inverted contrast, blur, stronger noise) with 10 labels per
class. Steps: pretrain on source -> fine-tune on target -> Co-Prune through
alpha 0.7 -> 0.5 -> 0.3 with the plateau schedule, keeping the best epoch of
each stage by target validation accuracy -> test accuracy. The same is run
with alpha = 0 (the target pruned on its own, three stages too) from the same
fine-tuned start.

  python experiments/quickstart.py [--keep-ratio 0.05] [--seed 0] [--fusion signed]
"""

import argparse
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import coprune_jax as cj

IMAGE_SIZE, NUM_CLASSES = 12, 10


def generate_domain(seed, num_per_class, style):
  """Class prototypes (shared by both domains) rendered in a domain's style."""
  prototypes = np.random.default_rng(1234).normal(
      size=(NUM_CLASSES, IMAGE_SIZE // 3, IMAGE_SIZE // 3))
  prototypes = prototypes.repeat(3, axis=1).repeat(3, axis=2)
  rng = np.random.default_rng(seed)
  labels = np.repeat(np.arange(NUM_CLASSES), num_per_class)
  rng.shuffle(labels)
  shifts = rng.integers(-1, 2, size=(labels.size, 2))
  images = np.stack([np.roll(prototypes[y], tuple(s), axis=(0, 1))
                     for y, s in zip(labels, shifts)])
  if style == "target":
    images = -0.7 * images
    images = (images + np.roll(images, 1, axis=1) + np.roll(images, 1, axis=2)) / 3
    noise = 1.0
  else:
    noise = 0.8
  images = images + noise * rng.normal(size=images.shape)
  return images.reshape(len(labels), -1).astype(np.float32), labels


class Mlp(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(256, name="fc1")(x))
    x = nn.relu(nn.Dense(128, name="fc2")(x))
    return nn.Dense(NUM_CLASSES, name="fc3")(x)


def apply_fn(params, x):
  return Mlp().apply({"params": params}, x)


def accuracy(params, masks, data):
  logits = apply_fn(cj.apply_masks(params, masks) if masks else params, data[0])
  return float(jnp.mean(jnp.argmax(logits, -1) == data[1]))


def batches(data, batch_size, rng):
  order = rng.permutation(len(data[1]))
  for start in range(0, len(order) - batch_size + 1, batch_size):
    idx = order[start:start + batch_size]
    yield data[0][idx], data[1][idx]


def train_dense(params, data, epochs, seed, learning_rate=1e-3):
  adam = optax.adam(learning_rate)

  @jax.jit
  def step(params, opt_state, batch):
    grads = jax.grad(lambda p: cj.cross_entropy_loss(apply_fn(p, batch[0]),
                                                     batch[1]))(params)
    updates, opt_state = adam.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  opt_state, rng = adam.init(params), np.random.default_rng(seed)
  for _ in range(epochs):
    for batch in batches(data, 50, rng):
      params, opt_state = step(params, opt_state, batch)
  return params


def co_prune(source_params, target_params, ratios, schedule, source, target_train,
             target_val, seed, max_epochs_per_stage, fusion):
  """Runs every alpha stage to its optimum; returns the selected state."""
  step = cj.make_cooperative_step(apply_fn, ratios, fusion=fusion)
  state = cj.init_coprune_state(source_params, target_params, ratios,
                                schedule(0))
  rng = np.random.default_rng(seed)
  source_batches = iter(())
  for stage in range(schedule.num_stages):
    if stage > 0:
      state = cj.begin_stage(best_state, schedule(stage))
    best_state, best_val = None, -1.0
    while not cj.stage_finished(state, max_epochs=max_epochs_per_stage):
      losses = []
      for target_batch in batches(target_train, 50, rng):
        source_batch = next(source_batches, None)
        if source_batch is None:  # cycle the source alongside the target
          source_batches = batches(source, 50, rng)
          source_batch = next(source_batches)
        state, metrics = step(state, source_batch, target_batch)
        losses.append(jax.device_get(metrics))
      state = cj.end_epoch(state, np.mean([m["source_loss"] for m in losses]),
                           np.mean([m["target_loss"] for m in losses]))
      val = accuracy(state.target_params, state.target_masks, target_val)
      if val > best_val:  # model selection on validation data only
        best_state, best_val = jax.tree.map(jnp.copy, state), val
  return best_state


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--keep-ratio", type=float, default=0.05,
                      help="fraction of each kernel's weights kept")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--max-epochs-per-stage", type=int, default=40)
  parser.add_argument("--fusion", choices=["signed", "magnitude"],
                      default="signed", help="how the target mask fuses weights")
  args = parser.parse_args()
  start = time.time()

  source = generate_domain(args.seed, 300, "source")
  target_train = generate_domain(args.seed + 1, 10, "target")
  target_val = generate_domain(args.seed + 2, 10, "target")
  target_test = generate_domain(args.seed + 3, 100, "target")

  params = Mlp().init(jax.random.key(args.seed),
                      jnp.zeros((1, IMAGE_SIZE ** 2)))["params"]
  source_params = train_dense(params, source, epochs=10, seed=args.seed)
  target_params = train_dense(source_params, target_train, epochs=100,
                              seed=args.seed)
  ratios = cj.keep_ratio_tree(params, args.keep_ratio)
  print(f"source model, source-domain accuracy: "
        f"{accuracy(source_params, None, generate_domain(99, 50, 'source')):.3f}")
  print(f"source model on target test:    {accuracy(source_params, None, target_test):.3f}")
  print(f"fine-tuned target, full precision: "
        f"{accuracy(target_params, None, target_test):.3f}")

  for name, schedule in [("Co-Prune 0.7->0.5->0.3", cj.alpha_schedule()),
                         # Same number of stages: the same training budget.
                         ("alpha = 0 (target alone)",
                          cj.alpha_schedule([0.0, 0.0, 0.0]))]:
    state = co_prune(source_params, target_params, ratios, schedule, source,
                     target_train, target_val, args.seed,
                     args.max_epochs_per_stage, args.fusion)
    kept = sum(cj.kept_counts(state.target_masks).values())
    total = sum(w.size for _, w in cj.named_leaves(params) if w.ndim >= 2)
    print(f"{name:26s} target test accuracy "
          f"{accuracy(state.target_params, state.target_masks, target_test):.3f}"
          f" with {kept}/{total} kernel weights kept ({kept / total:.2%})")
  print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
  main()
