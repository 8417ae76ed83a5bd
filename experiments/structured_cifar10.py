"""Structured pruning on CIFAR-10: accuracy vs FLOPs per criterion.

Trains CIFAR-Net or ResNet-18 (CIFAR stem) on CIFAR-10 (45,000 training
images, 5,000 held out for validation, pad-crop-flip), then for every
criterion (L1, FPGM, Taylor, APoZ; network slimming for ResNet-18, whose
dense training then adds the L1 penalty on BatchNorm scales) and global
FLOP budget keeps channels (`coprune_jax.structured`), cuts them out,
fine-tunes the smaller network and reports test accuracy of the epoch best
on validation, beside kept FLOPs and parameters. Phases checkpoint into
--workdir and resume with the same command.

  python experiments/structured_cifar10.py --data-root ../shared/data \\
      --workdir runs/structured_cifar10
  python experiments/structured_cifar10.py --data-root ../shared/data \\
      --workdir runs/structured_quick --epochs 1 --finetune-epochs 1 --train-limit 5000
  python experiments/structured_cifar10.py --model resnet18 --data-root ../shared/data \\
      --workdir runs/structured_resnet18
"""

import argparse
import datetime
import json
import os
import platform
import sys

import jax
import jax.numpy as jnp
import numpy as np

import coprune_jax as cj
from coprune_jax import models
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.data import local_files
from coprune_jax.models.classifier import Classifier
from coprune_jax.models.classifier import split_variables
from coprune_jax.structured import architectures
from coprune_jax.structured import budget
from coprune_jax.structured import criteria
from coprune_jax.structured import surgery
from coprune_jax.train import phases
from coprune_jax.train.metrics_log import MetricsLog

CRITERIA = {"cifar_net": ("l1", "fpgm", "taylor", "apoz"),
            "resnet18": ("l1", "fpgm", "slimming", "taylor", "apoz")}
CIFAR = pipeline.Augmentation(pad=4, crop=True, flip=True)


def load_splits(data_root, train_limit, seed=0):
  domain = local_files.load_npz(
      os.path.join(data_root, "cifar10", "cifar10_jpeg.npz"), "cifar10")
  order = np.random.default_rng(seed).permutation(len(domain.y_train))
  val_idx, train_idx = order[:5000], order[5000:]
  if train_limit:
    train_idx = train_idx[:train_limit]
  mean, std = pipeline.channel_statistics(domain.x_train[train_idx])
  make = lambda x, y, aug: pipeline.Split(x, y, mean, std, 32, aug)
  return (make(domain.x_train[train_idx], domain.y_train[train_idx], CIFAR),
          make(domain.x_train[val_idx], domain.y_train[val_idx],
               pipeline.Augmentation()),
          make(domain.x_test, domain.y_test, pipeline.Augmentation()))


def taylor(classifier, variables, groups, train, num_batches=20):
  """|dL/d gate| per channel, summed over training batches (no augmentation)."""
  _, model_state = split_variables(variables)
  grad = jax.jit(jax.grad(lambda p, x, y: cj.cross_entropy_loss(
      classifier.eval_apply(p, model_state, x), y)))
  total = None
  rng = np.random.default_rng(0)
  for i, (x, y) in enumerate(pipeline.batches(train, 128, rng, False)):
    if i == num_batches:
      break
    scores = criteria.taylor_scores(variables["params"],
                                    grad(variables["params"], x, y), groups)
    total = scores if total is None else {k: total[k] + v
                                          for k, v in scores.items()}
  return total


def apoz(model, variables, groups, train):
  x, _ = next(pipeline.batches(train, 1000, None, False))
  return criteria.apoz_scores(
      criteria.capture_activations(model, variables, x, groups), groups)


def main(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data-root", default=os.environ.get("COPRUNE_DATA_DIR"))
  parser.add_argument("--model", default="cifar_net", choices=sorted(CRITERIA))
  parser.add_argument("--slimming-penalty", type=float, default=1e-4,
                      help="weight of the L1 on BatchNorm scales in dense "
                      "training (models with BatchNorm)")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--epochs", type=int, default=15, help="dense training")
  parser.add_argument("--finetune-epochs", type=int, default=5)
  parser.add_argument("--budgets", type=float, nargs="+", default=[0.5, 0.25],
                      help="fractions of the dense kernel multiply-adds kept")
  parser.add_argument("--train-limit", type=int, default=0,
                      help="use only this many training images (smoke test)")
  parser.add_argument("--results", default=None,
                      help="JSON/markdown output path without extension "
                      "(default: <workdir>/structured_cifar10)")
  args = parser.parse_args(argv)
  if not args.data_root or not os.path.isdir(args.data_root):
    print("structured_cifar10: error: give --data-root (the folder with "
          "cifar10/cifar10_jpeg.npz) or set COPRUNE_DATA_DIR", file=sys.stderr)
    return 2
  train, val, test = load_splits(args.data_root, args.train_limit)
  model = models.make_model(args.model, 10)
  classifier = Classifier(model)
  os.makedirs(args.workdir, exist_ok=True)
  ctx = phases.PhaseContext(classifier, 0, args.workdir,
                            MetricsLog(os.path.join(args.workdir,
                                                    "metrics.jsonl")),
                            progress=True, checkpoint_every_seconds=60.0)
  evaluate = phases.make_evaluator(classifier)
  init = classifier.init(0, (32, 32, 3))
  arch = architectures.architecture(args.model)
  groups = arch.groups({"params": init[0], **init[1]})
  slimming = "slimming" in CRITERIA[args.model]
  penalty = ((lambda p: args.slimming_penalty
              * criteria.slimming_penalty(p, groups)) if slimming else None)
  dense = phases.train_dense("dense", ctx, init, train, val, args.epochs, 128,
                             1e-3, penalty)
  variables = {"params": dense[0], **dense[1]}
  one_image = jnp.zeros((1, 32, 32, 3))
  positions = budget.output_positions(model, variables, one_image)
  cost = budget.CostModel(variables, groups, "flops", positions)
  full_macs = budget.kernel_macs(model, variables, one_image)
  full_params = surgery.parameter_count(variables)
  rows = [{"criterion": "dense", "budget": 1.0, "macs": full_macs,
           "params": full_params, "val": evaluate(dense, val),
           "test": evaluate(dense, test)}]
  score_fns = {
      "l1": lambda: criteria.l1_scores(variables, groups),
      "fpgm": lambda: criteria.fpgm_scores(variables, groups),
      "slimming": lambda: criteria.slimming_scores(variables, groups),
      "taylor": lambda: taylor(classifier, variables, groups, train),
      "apoz": lambda: apoz(model, variables, groups, train)}
  for name in CRITERIA[args.model]:
    scores = score_fns[name]()
    for flop_budget in args.budgets:
      keep = budget.keep_within_budget(scores, cost, flop_budget)
      small_variables = surgery.shrink(variables, groups, keep)
      widths = arch.widths({n: int(k.sum()) for n, k in keep.items()})
      small = model.clone(**widths)
      pruned = split_variables(small_variables)
      small_classifier = Classifier(small)
      small_ctx = phases.PhaseContext(
          small_classifier, 0, args.workdir, ctx.log, True,
          checkpoint_every_seconds=60.0)
      small_evaluate = phases.make_evaluator(small_classifier)
      before = small_evaluate(pruned, test)
      tuned = phases.train_dense(f"{name}_{flop_budget}", small_ctx, pruned,
                                 train, val, args.finetune_epochs, 128, 1e-3)
      rows.append({"criterion": name, "budget": flop_budget,
                   "widths": widths,
                   "macs": budget.kernel_macs(small, small_variables,
                                              one_image),
                   "params": surgery.parameter_count(small_variables),
                   "test_before_finetune": before,
                   "val": small_evaluate(tuned, val),
                   "test": small_evaluate(tuned, test)})
      print(rows[-1], flush=True)
  base = args.results or os.path.join(args.workdir, "structured_cifar10")
  header = (f"{datetime.date.today()}, {platform.node()}, "
            f"{jax.devices()[0].device_kind}, JAX {jax.__version__}; "
            f"{args.model}"
            + (f" (slimming penalty {args.slimming_penalty})" if slimming
               else "") + "; dense "
            f"{args.epochs} epochs, fine-tune {args.finetune_epochs}, "
            f"{len(train)} training images")
  with open(base + ".json", "w") as f:
    json.dump({"setting": header, "rows": rows}, f, indent=1)
  lines = [f"# {header}", "",
           "| criterion | FLOP budget | widths | kernel MACs kept | params kept "
           "| test before fine-tune | val | test |", "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['criterion']} | {r['budget']:.0%} "
        f"| {' / '.join(map(str, r.get('widths', {}).values()))} "
        f"| {r['macs'] / full_macs:.1%} | {r['params'] / full_params:.1%} "
        f"| {100 * r.get('test_before_finetune', r['test']):.2f} "
        f"| {100 * r['val']:.2f} | {100 * r['test']:.2f} |")
  with open(base + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
