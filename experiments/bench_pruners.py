"""The JAX peer's algorithms on our pruner interface: CIFAR-Net on CIFAR-10.

Dense training vs gradual magnitude pruning (Zhu & Gupta), RigL, SET and
dynamic magnitude pruning (alpha = 0's rule: straight-through gradients,
masks of the current weights after every update), each `cj.pruned` around
the same Adam (lr 1e-3, batch 128), the same epochs and data order per
seed, at the reference's 1.35% per-layer keep ratios and our 10.4%,
trained by the pipeline's trainer and epoch loop (`trainers.MaskedTrainer`,
`phases.train_phase`). The epoch best on validation data (5,000 images
held out of CIFAR-10's training set) among those at the budget is kept;
its test accuracy (the 10,000 test images) is reported.

  python experiments/bench_pruners.py --data-root ../shared/data \\
      --workdir runs/bench_pruners --out experiments/results/pruners_cifar10
  python experiments/bench_pruners.py --synthetic --quick --workdir /tmp/p   # smoke test

Each (setting, method, seed) run writes its JSON to --workdir and is not
redone, and a run saves its state there every --checkpoint-every seconds:
an interrupted benchmark resumes where it stopped, mid-run included. With
--time-budget no run starts that would, at the last run's pace, end past
the budget, and the summary covers the runs that finished (a lent GPU's
call has a hard limit, and a run killed mid-way would take the summary
with it).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import time

import jax
import numpy as np

import coprune_jax as cj
from coprune_jax import models
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.data import local_files
from coprune_jax.train import phases
from coprune_jax.train import protocol
from coprune_jax.train import report
from coprune_jax.train import stages
from coprune_jax.train import trainers
from coprune_jax.train.metrics_log import MetricsLog
from coprune_jax.train.metrics_log import read_records

SETTINGS = {"1.35": protocol.CIFAR_NET_KEEP_RATIOS_1_35,
            "10.4": protocol.CIFAR_NET_KEEP_RATIOS_10_4}


def pruner_of(method: str, keep_ratios, total_steps: int, seed: int):
  """The pruner of `method` for a run of `total_steps` updates (None: dense)."""
  every = max(1, total_steps // 100)  # a hundred mask updates per run
  if method == "dense":
    return None
  if method == "gradual_magnitude":  # prune over the first half
    return cj.pruners.gradual_magnitude(keep_ratios, begin_step=0,
                                        end_step=total_steps // 2,
                                        update_every=every)
  if method in ("rigl", "sparse_evolutionary"):  # topology fixed after 3/4
    return cj.pruners.by_name(method)(keep_ratios=keep_ratios,
                              end_step=3 * total_steps // 4,
                              update_every=every, seed=seed)
  if method == "dynamic_magnitude":
    return cj.pruners.magnitude(keep_ratios)
  raise ValueError(f"unknown method {method!r}")


METHODS = ("dense", "gradual_magnitude", "rigl", "sparse_evolutionary",
           "dynamic_magnitude")


def cifar10_splits(data_root: str, num_train: int = 0, synthetic=False,
                   num_val: int = 5000):
  """(train, val, test) Splits: `num_val` training images held out for
  validation (100 of the synthetic images)."""
  if synthetic:  # tiny random images: the script's own test, no data needed
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (600, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 600)
    x_train, y_train, x_test, y_test = x[:400], y[:400], x[400:], y[400:]
    num_val = 100
  else:
    domain = local_files.load_npz(
        os.path.join(data_root, "cifar10", "cifar10_jpeg.npz"))
    x_train, y_train = domain.x_train, domain.y_train
    x_test, y_test = domain.x_test, domain.y_test
  order = np.random.default_rng(0).permutation(len(y_train))
  val, train = order[:num_val], order[num_val:]
  if num_train:
    train = train[:num_train]
  mean, std = pipeline.channel_statistics(x_train[train])
  augment = pipeline.Augmentation(pad=4, crop=True, flip=True)
  split = lambda x, y, aug: pipeline.Split(x, y, mean, std, 32, aug)
  return (split(x_train[train], y_train[train], augment),
          split(x_train[val], y_train[val], pipeline.Augmentation()),
          split(x_test, y_test, pipeline.Augmentation()))


def train_one(method, setting, seed, splits, epochs, batch_size=128,
              checkpoint_dir=None, checkpoint_every=60.0, progress_bar=False):
  """One run through the pipeline's epoch loop (`phases.train_phase`): the
  pruner's own start, Adam at 1e-3 (the plateau rule's, with its factor 1:
  a fixed rate), `epochs` epochs, the epoch best on validation among those
  at the budget. With `checkpoint_dir`, the run is saved there every
  `checkpoint_every` seconds and a run that finds it goes on from it
  (every epoch's data order and every pruner's randomness follow from the
  seed, the run's name and the epoch)."""
  train, val, test = splits
  classifier = models.Classifier(models.CifarNet(num_classes=10))
  params, model_state = classifier.init(seed, (32, 32, 3))
  steps_per_epoch = len(train) // batch_size
  keep_ratios = cj.keep_ratio_tree(params, SETTINGS[setting])
  pruner = pruner_of(method, keep_ratios, epochs * steps_per_epoch, seed)
  if pruner is None:  # dense: no masks at all
    masks = jax.tree.map(lambda _: None, params)
  else:
    params, masks = pruner.start(params)
  trainer = trainers.MaskedTrainer(
      classifier.train_apply, (params, model_state), masks, train,
      batch_size, num_stages=1, pruner=pruner,
      optimizer=cj.adam_with_plateau(1e-3))
  log_path = None if checkpoint_dir is None else os.path.join(
      checkpoint_dir, "metrics.jsonl")
  records = []
  ctx = phases.PhaseContext(
      classifier, seed, checkpoint_dir,
      None if log_path is None else MetricsLog(log_path),
      progress=progress_bar, on_epoch_end=records.append,
      checkpoint_every_seconds=checkpoint_every,
      # Every method of a seed sees the same data order: the one the
      # committed figures were trained with.
      order_seed=lambda seed, phase, stage, epoch: [seed, epoch])
  best, progress = phases.train_phase(
      "run", ctx, trainer, val,
      stages.StageRule(1, min_learning_rate=0.0, max_epochs_per_stage=epochs),
      factor=1.0)
  if log_path is not None:  # a resumed run: its earlier epochs too
    records = [r for r in read_records(log_path) if r["seed"] == seed]
  if progress.best_val < 0:  # no epoch was at the budget
    raise RuntimeError(f"{method} never reached its budget of kept weights")
  (best_params, best_state), best_masks = trainer.target(best)
  evaluate = phases.make_evaluator(classifier)
  curve = [{"epoch": r["epoch"], "loss": r["target_loss"],
            "val": r["val_accuracy"], "kept": r.get("kept"),
            "regrown": r.get("regrown")} for r in records]
  selected = curve[progress.best_step - 1]
  return {"method": method, "setting": setting, "seed": seed,
          "epochs": epochs, "val_accuracy": selected["val"],
          "test_accuracy": evaluate((best_params, best_state), test,
                                    best_masks),
          "selected_epoch": selected["epoch"], "kept": selected["kept"],
          "prunable": sum(w.size for r, w in zip(
              jax.tree.leaves(keep_ratios, is_leaf=lambda r: r is None),
              jax.tree.leaves(params)) if r is not None),
          "seconds": sum(r["seconds"] for r in records), "curve": curve}


def summary_markdown(results, args, splits, machine) -> str:
  train, val, test = (len(s) for s in splits)
  lines = [
      f"Test accuracy (%) of the epoch best on validation, mean +- std over "
      f"seeds (n); {train:,} training, {val:,} validation and {test:,} test "
      f"images; {args.epochs} epochs of Adam 1e-3, batch 128. "
      f"`python experiments/bench_pruners.py {' '.join(sys.argv[1:])}`, "
      f"{datetime.date.today().isoformat()}, "
      f"{report.describe_machine(machine)}.", "",
      "| method | " + " | ".join(f"{s}% kept" for s in args.settings) + " |",
      "|---|" + "---|" * len(args.settings)]
  for method in args.methods:
    cells = []
    for setting in args.settings:
      runs = [r for r in results if r["method"] == method
              and r["setting"] == setting]
      if not runs:
        cells.append("")
        continue
      test = 100 * np.array([r["test_accuracy"] for r in runs])
      spread = f" +- {test.std(ddof=1):.2f}" if len(runs) > 1 else ""
      kept = ("dense" if runs[0]["kept"] is None else
              f"{100 * np.mean([r['kept'] / r['prunable'] for r in runs]):.2f}% kept")
      cells.append(f"{test.mean():.2f}{spread} ({len(runs)}); {kept}")
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data-root",
                      default=os.environ.get("COPRUNE_DATA_DIR",
                                             "../shared/data"))
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--out", help="writes OUT.json and OUT.md")
  parser.add_argument("--epochs", type=int, default=30)
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--settings", nargs="+", default=list(SETTINGS),
                      choices=list(SETTINGS))
  parser.add_argument("--methods", nargs="+", default=list(METHODS),
                      choices=list(METHODS))
  parser.add_argument("--num-train", type=int, default=0,
                      help="use only this many training images (0: all)")
  parser.add_argument("--num-val", type=int, default=5000,
                      help="training images held out for validation")
  parser.add_argument("--time-budget", type=float, default=None,
                      help="seconds: start no run that would end past this")
  parser.add_argument("--checkpoint-every", type=float, default=60.0,
                      help="seconds between a run's checkpoints (its state "
                      "after an epoch, in WORKDIR; an interrupted run goes "
                      "on from its last one)")
  parser.add_argument("--no-progress", action="store_true",
                      help="no progress bar per run")
  parser.add_argument("--quick", action="store_true",
                      help="2 epochs, one seed: a smoke test")
  parser.add_argument("--synthetic", action="store_true",
                      help="random images instead of CIFAR-10 (tests)")
  args = parser.parse_args(argv)
  if args.quick:
    args.epochs, args.seeds = 2, args.seeds[:1]
  data_file = os.path.join(args.data_root, "cifar10", "cifar10_jpeg.npz")
  if not args.synthetic and not os.path.isfile(data_file):
    print(f"bench_pruners: {data_file} not found (set --data-root or "
          f"COPRUNE_DATA_DIR)", file=sys.stderr)
    return 2
  splits = cifar10_splits(args.data_root, args.num_train, args.synthetic,
                          args.num_val)
  os.makedirs(args.workdir, exist_ok=True)
  results = []
  start, last_run, skipped = time.monotonic(), 0.0, 0
  runs = [(seed, setting, method) for seed in args.seeds
          for setting in args.settings for method in args.methods]
  for seed, setting, method in runs:
    # Keyed by the data's size too: a subset's runs are other runs. Dense
    # training ignores the keep ratios: one run serves every setting.
    key = "any" if method == "dense" else setting
    path = os.path.join(
        args.workdir, f"{key}_{method}_seed{seed}_e{args.epochs}"
        f"_n{len(splits[0])}_v{len(splits[1])}.json")
    if os.path.isfile(path):
      with open(path) as f:
        result = json.load(f)
    else:
      elapsed = time.monotonic() - start
      if args.time_budget is not None and elapsed + last_run > args.time_budget:
        skipped += 1  # finished runs further on are still read back
        continue
      run_start = time.monotonic()
      checkpoint_dir = path[:-len(".json")] + "_checkpoints"
      result = train_one(method, setting, seed, splits, args.epochs,
                         checkpoint_dir=checkpoint_dir,
                         checkpoint_every=args.checkpoint_every,
                         progress_bar=not args.no_progress)
      # A resumed run's wall time is only its remainder; its recorded
      # seconds span every part, the pace the next run will take.
      last_run = max(time.monotonic() - run_start, result["seconds"])
      with open(path + ".tmp", "w") as f:
        json.dump(result, f)
      os.replace(path + ".tmp", path)
      shutil.rmtree(checkpoint_dir, ignore_errors=True)
      print(f"{key}% {method} seed {seed}: test "
            f"{100 * result['test_accuracy']:.2f}% (epoch "
            f"{result['selected_epoch']}), {result['seconds']:.0f} s",
            flush=True)
    results.append({**result, "setting": setting})
  if skipped:
    print(f"time budget of {args.time_budget:.0f} s: {skipped} of {len(runs)} "
          f"runs not started", flush=True)
  machine = report.machine()
  markdown = summary_markdown(results, args, splits, machine)
  print(markdown)
  if args.out:
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    device = jax.devices()[0]
    with open(args.out + ".json", "w") as f:
      json.dump({"device": f"{device.platform} ({device.device_kind})",
                 "jax_version": jax.__version__, "host": platform.node(),
                 "machine": machine,
                 "date": datetime.date.today().isoformat(),
                 "command": " ".join(sys.argv), "runs": results}, f, indent=1)
    with open(args.out + ".md", "w") as f:
      f.write(markdown)
  return 0


if __name__ == "__main__":
  sys.exit(main())
