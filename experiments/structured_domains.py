"""Cooperative structured pruning on a domain pair, then real surgery.

Trains (or reuses, --start-from) the config's source model and its target
fine-tune, then for every channel fraction f (of each layer's channels) runs
three channel-pruning methods from that start, all through the same staged
protocol as the paper's table (the config's alpha-list stage count, plateau
rule, selection on target validation):

- coprune: Co-Prune with channel scores, the target keeping the channels of
  best alpha * S_source + (1 - alpha) * S_target over the config's alpha
  list (`structured.cooperative.cooperative_channel_masks`);
- alpha0: the same dynamic channel masks with alpha = 0 in every stage (the
  target's own scores);
- fixed: the target's best channels chosen once, retrained with the masks
  fixed (Li et al. 2017 for the L1 criterion).

The selected model's channels are cut out (`structured.surgery.shrink`);
its test accuracy is measured on the smaller network, beside the masked
one's, with kept parameters and kernel multiply-adds. Phases checkpoint into
--workdir and resume with the same command; a workdir takes one config, its
seeds one command each (--seed), and summarises all of them.

  python experiments/structured_domains.py experiments/configs/usps_mnistm.py \\
      --workdir runs/structured_usps_mnistm --data-root ../shared/data \\
      --start-from runs/table_usps_mnistm
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np

import coprune_jax as cj
from coprune_jax.models.classifier import Classifier
from coprune_jax.models.classifier import split_variables
from coprune_jax.structured import architectures
from coprune_jax.structured import budget
from coprune_jax.structured import cooperative
from coprune_jax.structured import criteria
from coprune_jax.structured import surgery
from coprune_jax.train import config_files
from coprune_jax.train import phases
from coprune_jax.train import run
from coprune_jax.train import trainers
from coprune_jax.train.metrics_log import MetricsLog

METHODS = ("coprune", "alpha0", "fixed")


def _parser():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("config", help="a domain-pair config (source, target)")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--fractions", type=float, nargs="+",
                      default=[0.5, 0.25],
                      help="fraction of each layer's channels kept")
  parser.add_argument("--criterion", default="l1",
                      choices=sorted(criteria.CRITERIA))
  parser.add_argument("--methods", nargs="+", default=list(METHODS),
                      choices=METHODS)
  parser.add_argument("--start-from", default=None,
                      help="a run or table workdir whose seed_S/pretrain and "
                      "finetune checkpoints to copy instead of training them")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a config entry")
  parser.add_argument("--data-root", default=None,
                      help="offline data folder (default: $COPRUNE_DATA_DIR, "
                      "or the config's data_root)")
  parser.add_argument("--no-progress", action="store_true")
  return parser


def _copy_start(start_from: str, checkpoint_dir: str) -> None:
  """Copies finished pretrain/finetune phases; training them again would
  reproduce them (deterministic on CPU) at a cost."""
  for phase in ("pretrain", "finetune"):
    source = os.path.join(start_from, os.path.basename(checkpoint_dir), phase)
    if not os.path.isdir(source):
      raise FileNotFoundError(f"no {phase} checkpoints in {source}")
    destination = os.path.join(checkpoint_dir, phase)
    if not os.path.isdir(destination):
      shutil.copytree(source, destination)


def _trainer(method: str, experiment: run.Experiment, groups, fraction: float,
             criterion: str, source_weights, target_weights):
  config, data = experiment.config, experiment.data
  batch_size = min(config.prune.batch_size, len(data.target_train))
  schedule = experiment.schedule
  if method == "fixed":
    scores = criteria.CRITERIA[criterion](
        {"params": target_weights[0]}, groups)
    masks = surgery.channel_param_masks(
        target_weights[0], groups, budget.keep_per_group(scores, fraction))
    return trainers.MaskedTrainer(
        experiment.classifier.train_apply, target_weights, masks,
        data.target_train, batch_size, schedule.num_stages,
        config.prune.learning_rate)
  if method == "alpha0":
    schedule = cj.alpha_schedule([0.0] * schedule.num_stages)
  source_pruner, target_pruner = cooperative.channel_pruners(
      cooperative.cooperative_channel_masks(groups, fraction, criterion))
  return trainers.CoPruneTrainer(
      experiment.classifier.train_apply, schedule, source_weights,
      target_weights, data.source_train, data.target_train, batch_size,
      source_pruner, target_pruner, config.prune.learning_rate,
      initial_masks=config.prune.initial_masks)


def _size(module, params, model_state, one_image) -> dict:
  variables = {"params": params, **model_state}
  return {"params": surgery.parameter_count(variables),
          "kernel_macs": budget.kernel_macs(module, variables, one_image)}


def prune_and_shrink(method, experiment, ctx, groups, fraction, criterion,
                     start) -> dict:
  """Trains one method, cuts its selected model's channels out, evaluates."""
  prune, data = experiment.config.prune, experiment.data
  arch = architectures.architecture(experiment.config.model.name)
  trainer = _trainer(method, experiment, groups, fraction, criterion, *start)
  patience, max_epochs = run.stage_epochs(prune, len(data.target_train))
  best, progress = phases.staged_training(
      f"{method}_{criterion}_{fraction}", ctx, trainer, data.target_val,
      patience, prune.factor, prune.min_learning_rate, max_epochs)
  (params, model_state), masks = trainer.target(best)
  keep = surgery.kept_channels(masks, groups)
  small_params, small_state = split_variables(
      surgery.shrink({"params": params, **model_state}, groups, keep))
  module = experiment.classifier.module
  small_module = module.clone(**arch.widths(
      {name: int(k.sum()) for name, k in keep.items()}))
  evaluate = phases.make_evaluator(experiment.classifier)
  small_evaluate = phases.make_evaluator(Classifier(small_module))
  one_image = jnp.zeros((1,) + tuple(data.input_shape))
  return {
      "method": method, "fraction": fraction, "selected_stage": progress.best_stage,
      "widths": [int(keep[g.name].sum()) for g in groups],
      "masked_test": evaluate((params, model_state), data.target_test, masks),
      "val": small_evaluate((small_params, small_state), data.target_val),
      "test": small_evaluate((small_params, small_state), data.target_test),
      **_size(small_module, small_params, small_state, one_image)}


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    config = config_files.load_config(args.config)
    config_files.apply_overrides(config, args.overrides + [
        f"seeds=({args.seed},)"])
    data_root = args.data_root or os.environ.get("COPRUNE_DATA_DIR")
    if data_root:
      config.data_root = data_root
    experiment = run.Experiment(config)
    groups = architectures.architecture(config.model.name).groups(
        {"params": experiment.init_weights(0)[0]})
    for fraction in args.fractions:
      if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fractions must be in (0, 1], got {fraction}")
    # One workdir holds one config's seeds: refuse another config in it.
    run.prepare_workdir(args.workdir, config, resume=True, ignore=("seeds",))
    checkpoint_dir = os.path.join(args.workdir, f"seed_{args.seed}")
    if args.start_from:
      _copy_start(args.start_from, checkpoint_dir)
  except (config_files.ConfigError, FileNotFoundError, ValueError) as e:
    print(f"structured_domains: error: {e}", file=sys.stderr)
    return 2
  ctx = phases.PhaseContext(
      experiment.classifier, args.seed, checkpoint_dir,
      MetricsLog(os.path.join(args.workdir, "metrics.jsonl")),
      not args.no_progress,
      checkpoint_every_seconds=config.checkpoint_every_seconds)
  source_weights = run.pretrain(experiment, ctx)
  target_weights = run.finetune(experiment, ctx, source_weights)
  module, data = experiment.classifier.module, experiment.data
  one_image = jnp.zeros((1,) + tuple(data.input_shape))
  evaluate = phases.make_evaluator(experiment.classifier)
  rows = [{"method": "fine-tuned target", "fraction": 1.0,
           "widths": [g.size for g in groups],
           "val": evaluate(target_weights, data.target_val),
           "test": evaluate(target_weights, data.target_test),
           **_size(module, *target_weights, one_image)}]
  for fraction in args.fractions:
    for method in args.methods:
      rows.append(prune_and_shrink(method, experiment, ctx, groups, fraction,
                                   args.criterion,
                                   (source_weights, target_weights)))
      print(rows[-1], flush=True)
  header = (f"{datetime.date.today()}, {platform.node()}, "
            f"{jax.devices()[0].device_kind}, JAX {jax.__version__}; "
            f"{args.config}, criterion {args.criterion}")
  with open(os.path.join(args.workdir,
                         f"structured_domains_seed{args.seed}.json"), "w") as f:
    json.dump({"setting": header, "seed": args.seed, "rows": rows}, f,
              indent=1)
  summary = summarize(args.workdir)
  with open(os.path.join(args.workdir, "structured_domains.md"), "w") as f:
    f.write(summary)
  print(summary)
  return 0


def summarize(workdir: str) -> str:
  """A markdown table over every seed's results in `workdir`: test accuracy
  of the shrunk network, mean +- std (n seeds), each seed's value."""
  runs = []
  for name in sorted(os.listdir(workdir)):
    if name.startswith("structured_domains_seed") and name.endswith(".json"):
      with open(os.path.join(workdir, name)) as f:
        runs.append(json.load(f))
  cells = {}
  for result in runs:
    for row in result["rows"]:
      cells.setdefault((row["method"], row["fraction"]), []).append(
          (result["seed"], row))
  dense = runs[0]["rows"][0]
  lines = [f"# {runs[-1]['setting']}; seeds "
           f"{sorted(r['seed'] for r in runs)}", "",
           "| method | channels kept | widths | params kept | kernel MACs kept "
           "| test (shrunk), mean +- std | n | per seed | shrunk = masked |",
           "|---|---|---|---|---|---|---|---|---|"]
  for (method, fraction), seeds in cells.items():
    row = seeds[0][1]
    tests = np.array([100 * r["test"] for _, r in seeds])
    same = all(r["test"] == r.get("masked_test", r["test"]) for _, r in seeds)
    lines.append(
        f"| {method} | {fraction:.0%} | {row['widths']} "
        f"| {row['params'] / dense['params']:.1%} "
        f"| {row['kernel_macs'] / dense['kernel_macs']:.1%} "
        f"| {tests.mean():.2f}"
        + (f" +- {tests.std(ddof=1):.2f}" if len(tests) > 1 else "")
        + f" | {len(tests)} | "
        + ", ".join(f"{t:.2f}" for t in tests)
        + f" | {'yes' if same else 'NO'} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  sys.exit(main())
