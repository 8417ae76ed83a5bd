"""Benchmark: one Co-Prune epoch, the authors' PyTorch loop vs our jitted step.

The reference iteration, as in the authors' released code (see
`../shared/docs/coprune-reference.md`): before every iteration, per layer,
`torch.topk` finds the n_left-th largest magnitude (fused for the target) and
keeps the weights strictly above it; the forward pass multiplies weights by
masks through a straight-through `autograd.Function`; each domain takes one
Adam step. Ours: `cj.published_coprune(...).step` (exact masks by radix select,
straight-through `custom_vjp`, both domains in one jitted program).

Both loops run CIFAR-Net at the reference's 1.35% ratios, batch 128 per
domain, on random data already on the device, 36 iterations per epoch (the
CIFAR9 -> STL9 epoch). Reported: median epoch wall time of each, and the
ratio. Skipped (exit 0, one line) where torch is not installed.

  python experiments/bench_reference_torch.py [--epochs 10] [--json out.json]
"""

import argparse
import datetime
import json
import os
import sys

ITERATIONS_PER_EPOCH = 36
BATCH = 128
NUM_CLASSES = 9
# (name, shape in PyTorch layout, keep ratio): CIFAR-Net, 1.35% setting.
TORCH_LAYERS = [("conv1", (32, 3, 5, 5), 0.2), ("conv2", (32, 32, 5, 5), 0.01),
                ("conv3", (64, 32, 5, 5), 0.009), ("fc1", (64, 576), 0.009),
                ("fc2", (NUM_CLASSES, 64), 0.08)]


def torch_epoch_seconds(torch, epochs, median_seconds):
  functional = torch.nn.functional
  device = "cuda" if torch.cuda.is_available() else "cpu"
  generator = torch.Generator(device=device).manual_seed(0)

  class StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, mask):
      return weight * mask

    @staticmethod
    def backward(ctx, grad):
      return grad, None

  def new_net():
    net = {}
    for name, shape, _ in TORCH_LAYERS:
      net[name] = torch.nn.Parameter(
          0.05 * torch.randn(shape, device=device, generator=generator))
      net[name + "_bias"] = torch.nn.Parameter(
          torch.zeros(shape[0], device=device))
    return net

  def forward(net, masks, images):
    w = {name: StraightThrough.apply(net[name], masks[name])
         for name, _, _ in TORCH_LAYERS}
    x = functional.conv2d(images, w["conv1"], net["conv1_bias"], padding=2)
    x = functional.relu(functional.max_pool2d(x, 3, 2))
    x = functional.relu(functional.conv2d(x, w["conv2"], net["conv2_bias"],
                                          padding=2))
    x = functional.avg_pool2d(x, 3, 2)
    x = functional.relu(functional.conv2d(x, w["conv3"], net["conv3_bias"],
                                          padding=2))
    x = functional.avg_pool2d(x, 3, 2).flatten(1)
    x = functional.relu(functional.linear(x, w["fc1"], net["fc1_bias"]))
    return functional.linear(x, w["fc2"], net["fc2_bias"])

  def layer_mask(scores, keep_ratio):
    n_left = int(scores.numel() * keep_ratio)
    threshold = torch.topk(scores.flatten(), n_left)[0][-1]
    return (scores > threshold).float()

  source, target = new_net(), new_net()
  optimizers = [torch.optim.Adam(net.values(), lr=1e-3)
                for net in (source, target)]
  alpha = 0.5
  batches = [(torch.randn(BATCH, 3, 32, 32, device=device, generator=generator),
              torch.randint(0, NUM_CLASSES, (BATCH,), device=device,
                            generator=generator)) for _ in range(2)]

  def run_epoch():
    for _ in range(ITERATIONS_PER_EPOCH):
      with torch.no_grad():
        source_masks = {name: layer_mask(source[name].abs(), ratio)
                        for name, _, ratio in TORCH_LAYERS}
        target_masks = {name: layer_mask(
            (alpha * source[name] + (1 - alpha) * target[name]).abs(), ratio)
                        for name, _, ratio in TORCH_LAYERS}
      for net, masks, optimizer, (images, labels) in zip(
          (source, target), (source_masks, target_masks), optimizers,
          batches):
        optimizer.zero_grad()
        functional.cross_entropy(forward(net, masks, images), labels).backward()
        optimizer.step()
    if device == "cuda":
      torch.cuda.synchronize()

  name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
  # One warm-up epoch: cuDNN autotuning.
  return median_seconds(run_epoch, epochs, 1), name


def jax_epoch_seconds(epochs, median_seconds):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import coprune_jax as cj  # pylint: disable=g-import-not-at-top
  from coprune_jax.models import CifarNet  # pylint: disable=g-import-not-at-top
  from coprune_jax.train import protocol  # pylint: disable=g-import-not-at-top

  keys = jax.random.split(jax.random.key(0), 5)
  model = CifarNet(num_classes=NUM_CLASSES)
  params = model.init(keys[0], jnp.zeros((1, 32, 32, 3)))["params"]
  ratios = cj.keep_ratio_tree(params, protocol.CIFAR_NET_KEEP_RATIOS_1_35)
  coprune = cj.published_coprune(ratios, cj.classification_objective(
      lambda p, x: model.apply({"params": p}, x)))
  state = coprune.init(params, params, alpha=0.5)
  step = coprune.step
  batches = [(jax.random.normal(k1, (BATCH, 32, 32, 3)),
              jax.random.randint(k2, (BATCH,), 0, NUM_CLASSES))
             for k1, k2 in (keys[1:3], keys[3:5])]
  holder = [state]

  def run_epoch():
    state = holder[0]
    for _ in range(ITERATIONS_PER_EPOCH):
      state, _ = step(state, *batches)
    holder[0] = jax.block_until_ready(state)

  # One warm-up epoch: compilation.
  return median_seconds(run_epoch, epochs, 1), jax.devices()[0].device_kind


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--epochs", type=int, default=10,
                      help="timed epochs of each loop (median reported)")
  parser.add_argument("--json", help="write the figures to this file")
  args = parser.parse_args()
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    print("bench_reference_torch: skipped, torch is not installed")
    return
  sys.path.insert(0, os.path.dirname(__file__))
  from bench_step import median_seconds  # pylint: disable=g-import-not-at-top
  torch_seconds, torch_device = torch_epoch_seconds(torch, args.epochs,
                                                    median_seconds)
  jax_seconds, jax_device = jax_epoch_seconds(args.epochs, median_seconds)
  report = {"date": str(datetime.date.today()),
            "commit": os.environ.get("COMMIT", "unknown"), "torch_version":
            torch.__version__, "torch_device": torch_device,
            "jax_device": jax_device,
            "iterations_per_epoch": ITERATIONS_PER_EPOCH,
            "reference_epoch_ms": torch_seconds * 1e3,
            "ours_epoch_ms": jax_seconds * 1e3,
            "speedup": torch_seconds / jax_seconds}
  for key, value in report.items():
    print(f"  {key:24s} {value}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
