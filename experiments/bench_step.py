"""Benchmark: cost of the cooperative step and of mask recomputation.

Measures, in one run on the default JAX backend (median wall time of many
steps after warm-up, random data: speed does not depend on the values):
  1. CIFAR-Net, batch 128 per domain, 1.35% reference keep ratios: one
     cooperative step vs two plain dense Adam steps (one per domain), and the
     mask recomputation (source and target masks) alone: as the step does
     it (one selection per domain's pruner) and as one joint selection of
     both domains (`cj.cooperative_masks`).
  2. ResNet-18 (CIFAR stem, ~11.2M kernel weights, 4% kept per layer): the
     same, at batch 128 per domain.
Each also times the cooperative step with fixed masks (what the step costs
without the mask recomputation) and the obvious `lax.top_k` masks.
Targets: on CPU (issue 2) the cooperative step <= 1.25x two dense steps and
the masks < 10% of the ResNet-18 step; on a GPU (issue 15) the cooperative
step <= 1.15x two dense steps, both domains' ResNet-18 masks <= 1.0 ms and
CIFAR-Net's <= 0.15 ms.

  python experiments/bench_step.py              # full run (minutes on CPU)
  python experiments/bench_step.py --quick      # fewer steps, smaller ResNet batch
  python experiments/bench_step.py --json experiments/results/bench_step_gpu.json
  python experiments/bench_step.py --gpu-count xla:4   # a CUDA GPU counting with XLA
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

import coprune_jax as cj
from coprune_jax.core import pallas_count
from coprune_jax.core import topk
from coprune_jax.core.tree_paths import map_with_names
from coprune_jax.models import CifarNet, ResNet18
from coprune_jax.train import protocol
from coprune_jax.train import report as report_lib


def median_seconds(fn, num_steps, num_warmup):
  """Median wall time of `fn()` (which must block) over `num_steps` calls."""
  for _ in range(num_warmup):
    fn()
  times = []
  for _ in range(num_steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def random_batch(key, batch_size, num_classes, image_size=32):
  key_images, key_labels = jax.random.split(key)
  return (jax.random.normal(key_images, (batch_size, image_size, image_size, 3)),
          jax.random.randint(key_labels, (batch_size,), 0, num_classes))


def make_dense_step(apply_fn, has_model_state):
  adam = optax.adam(1e-3)

  def step(params, opt_state, model_state, batch):
    def loss_fn(p):
      if has_model_state:
        logits, new_model_state = apply_fn(p, model_state, batch[0])
      else:
        logits, new_model_state = apply_fn(p, batch[0]), model_state
      return cj.cross_entropy_loss(logits, batch[1]), new_model_state
    grads, model_state = jax.grad(loss_fn, has_aux=True)(params)
    updates, opt_state = adam.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, model_state

  return adam.init, jax.jit(step, donate_argnums=(0, 1, 2))


def lax_top_k_mask(scores, count):
  """The obvious mask by `lax.top_k`; ties not split: a lower bound on cost."""
  threshold = jax.lax.top_k(scores.reshape(-1), count)[0][-1]
  return scores >= threshold


class Looper:
  """Holds a donated state between timed calls of a jitted step."""

  def __init__(self, step, state, *args):
    self.step, self.state, self.args = step, state, args

  def __call__(self):
    out = self.step(self.state, *self.args)
    self.state = out[0]
    jax.block_until_ready(out)


def step_programs(apply_fn, params, model_state, ratios, batches,
                  has_model_state, compare_sort):
  """{name: fn()} for everything timed here; each call runs once and blocks."""
  target_params = jax.tree.map(lambda w: w * 0.9, params)
  programs = {}

  init_adam, dense_step = make_dense_step(apply_fn, has_model_state)
  dense_states = [
      [jax.tree.map(jnp.copy, p), init_adam(p), jax.tree.map(jnp.copy, model_state)]
      for p in (params, target_params)]

  def two_dense_steps():
    for state, batch in zip(dense_states, batches):
      state[:] = dense_step(*state, batch)
    jax.block_until_ready(dense_states)

  programs["two_dense_steps"] = two_dense_steps
  objective = cj.classification_objective(apply_fn,
                                          has_model_state=has_model_state)
  adam = cj.adam_with_plateau(1e-3)
  for name, update_every in [("cooperative_step", 1),
                             ("cooperative_step_fixed_masks", 0)]:
    coprune = cj.cooperative_pruning(
        cj.pruned(adam, cj.pruners.magnitude(ratios,
                                             update_every=update_every)),
        cj.pruned(adam, cj.pruners.cooperative(ratios, 0.0,
                                               update_every=update_every)),
        objective)
    state = coprune.init(params, target_params, 0.5,
                         source_model_state=model_state,
                         target_model_state=model_state)
    programs[name] = Looper(coprune.step, state, *batches)

  # What the step computes: each domain's pruner selects on its own.
  source_pruner = cj.pruners.magnitude(ratios)
  target_pruner = cj.pruners.cooperative(ratios, 0.0)
  no_state = dict(grads=None, masks=None)
  recompute = jax.jit(lambda s, t: (
      source_pruner.masks_fn(s, ratios, None, 0, **no_state),
      target_pruner.masks_fn(t, ratios, s, 0, alpha=0.5, **no_state)))
  programs["mask_recomputation"] = lambda: jax.block_until_ready(
      recompute(params, target_params))
  # Both domains in one batched selection (cj.cooperative_masks).
  joint = jax.jit(lambda s, t: cj.cooperative_masks(s, t, 0.5, ratios))
  programs["mask_recomputation_joint"] = lambda: jax.block_until_ready(
      joint(params, target_params))

  if compare_sort:
    def top_k_masks(s, t):
      def mask(_, keep_ratio, scores):
        if keep_ratio is None:
          return None
        return lax_top_k_mask(scores, cj.kept_count(scores.size, keep_ratio))
      fused = jax.tree.map(lambda a, b: jnp.abs(0.5 * a + 0.5 * b), s, t)
      return [map_with_names(mask, ratios, jax.tree.map(jnp.abs, s)),
              map_with_names(mask, ratios, fused)]
    recompute_sort = jax.jit(top_k_masks)
    programs["mask_recomputation_lax_top_k"] = lambda: jax.block_until_ready(
        recompute_sort(params, target_params))
  return programs


def bench_model(name, apply_fn, params, model_state, rules, batches,
                has_model_state, num_steps, num_warmup, compare_sort):
  ratios = cj.keep_ratio_tree(params, rules)
  programs = step_programs(apply_fn, params, model_state, ratios, batches,
                           has_model_state, compare_sort)
  results = {}
  for key, program in programs.items():
    if key == "mask_recomputation_lax_top_k":  # slow on CPU: fewer steps
      results[key] = median_seconds(program, max(3, num_steps // 10), 1)
    else:
      results[key] = median_seconds(program, num_steps, num_warmup)

  num_weights = sum(w.size for _, w in cj.tree_paths.named_leaves(params)
                    if w.ndim >= 2)
  print(f"\n{name}: {num_weights:,} kernel weights, batch "
        f"{batches[0][0].shape[0]} per domain, overall keep "
        f"{cj.overall_keep_ratio(params, ratios):.4%}")
  for key, seconds in results.items():
    print(f"  {key:32s} {seconds * 1e3:10.2f} ms")
  print(f"  cooperative step / two dense steps  {ratio(results):.3f}x")
  print(f"  mask recomputation / cooperative step "
        f"{results['mask_recomputation'] / results['cooperative_step']:.2%}")
  if compare_sort:
    print(f"  lax.top_k masks / batched masks  "
          f"{results['mask_recomputation_lax_top_k'] / results['mask_recomputation']:.1f}x")
  return results


def model_setups(resnet_batch):
  """{name: bench_model's leading arguments} of CIFAR-Net and ResNet-18.

  CIFAR-Net at batch 128 per domain and the reference's 1.35% ratios;
  ResNet-18 (CIFAR stem, BatchNorm statistics threaded through the step) at
  4% of every kernel.
  """
  keys = jax.random.split(jax.random.key(0), 4)
  cifar_net = CifarNet(num_classes=9)
  cifar_params = cifar_net.init(keys[0], jnp.zeros((1, 32, 32, 3)))["params"]
  resnet = ResNet18(num_classes=10, stem="cifar")
  variables = resnet.init(keys[3], jnp.zeros((1, 32, 32, 3)))

  def apply_resnet(p, model_state, x):
    return resnet.apply({"params": p, **model_state}, x, train=True,
                        mutable=["batch_stats"])

  return {
      "CIFAR-Net": (
          "CIFAR-Net", lambda p, x: cifar_net.apply({"params": p}, x),
          cifar_params, None, protocol.CIFAR_NET_KEEP_RATIOS_1_35,
          [random_batch(k, 128, 9) for k in keys[1:3]], False),
      "ResNet-18 (CIFAR stem)": (
          "ResNet-18 (CIFAR stem)", apply_resnet, variables["params"],
          {"batch_stats": variables["batch_stats"]}, [(".*", 0.04)],
          [random_batch(k, resnet_batch, 10) for k in keys[1:3]], True),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="few steps and ResNet batch 16: a smoke run")
  parser.add_argument("--steps", type=int, default=50,
                      help="timed CIFAR-Net steps (median reported)")
  parser.add_argument("--resnet-steps", type=int, default=5)
  parser.add_argument("--resnet-batch", type=int, default=128)
  parser.add_argument("--no-sort-baseline", action="store_true",
                      help="skip timing the lax.top_k masks")
  parser.add_argument("--gpu-count", default=None,
                      metavar="FORM:BITS[:ROWS]",
                      help="how a CUDA GPU's mask selection counts, e.g. "
                      "xla:4 or pallas:2:8 (topk.GPU_COUNT_FORM and "
                      "GPU_DIGIT_BITS, pallas_count.ROWS_PER_PROGRAM; "
                      "default: the library's)")
  parser.add_argument("--json", help="write the headline figures to this file")
  args = parser.parse_args()
  if args.quick:
    args.steps, args.resnet_steps, args.resnet_batch = 5, 2, 16
  if args.gpu_count:  # before anything is traced: the selection reads it then
    form, bits, *rows = args.gpu_count.split(":")
    topk.GPU_COUNT_FORM, topk.GPU_DIGIT_BITS = form, int(bits)
    if rows:
      pallas_count.ROWS_PER_PROGRAM = int(rows[0])

  device = jax.devices()[0]
  machine = report_lib.machine()
  print(f"date {datetime.date.today()}, "
        f"{report_lib.describe_machine(machine)}")
  setups = model_setups(args.resnet_batch)
  cifar = bench_model(*setups["CIFAR-Net"], args.steps, 5,
                      not args.no_sort_baseline)
  resnet = bench_model(*setups["ResNet-18 (CIFAR stem)"], args.resnet_steps, 1,
                       not args.no_sort_baseline)
  if args.json:
    report = {"date": str(datetime.date.today()), "device": device.device_kind,
              "jax_version": jax.__version__, "backend": jax.default_backend(),
              "machine": machine,
              "gpu_count": f"{topk.GPU_COUNT_FORM}:{topk.GPU_DIGIT_BITS}:"
                           f"{pallas_count.ROWS_PER_PROGRAM}",
              "cifar_net_step_ratio": ratio(cifar),
              "resnet18_step_ratio": ratio(resnet),
              "cifar_net_masks_ms": cifar["mask_recomputation"] * 1e3,
              "resnet18_masks_ms": resnet["mask_recomputation"] * 1e3,
              "cifar_net_joint_masks_ms":
                  cifar["mask_recomputation_joint"] * 1e3,
              "resnet18_joint_masks_ms":
                  resnet["mask_recomputation_joint"] * 1e3}
    if not args.no_sort_baseline:
      report["cifar_net_lax_top_k_ms"] = (
          cifar["mask_recomputation_lax_top_k"] * 1e3)
      report["resnet18_lax_top_k_ms"] = (
          resnet["mask_recomputation_lax_top_k"] * 1e3)
    report["cifar_net_ms"] = {k: v * 1e3 for k, v in cifar.items()}
    report["resnet18_ms"] = {k: v * 1e3 for k, v in resnet.items()}
    report["command"] = "python experiments/bench_step.py " + " ".join(
        sys.argv[1:])
    report["commit"] = os.environ.get("COMMIT", "unknown")
    with open(args.json, "w") as f:
      json.dump(report, f, indent=1)


def ratio(results):
  return results["cooperative_step"] / results["two_dense_steps"]


if __name__ == "__main__":
  main()
