"""Loading a pruned model that a run or a table exported, with its data.

Shared by the entry points that compress such a model further
(`experiments/deep_compression.py`, `experiments/quantize.py`).
"""

import argparse
import datetime
import os
import platform

import jax

from coprune_jax.compression import sparse_file
from coprune_jax.train import config_files
from coprune_jax.train import phases
from coprune_jax.train import run

# What `load` raises for bad input; entry points print it and exit 2.
ERRORS = (config_files.ConfigError, FileNotFoundError, ValueError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("config", help="the config the model was trained with")
  parser.add_argument("--model-file", required=True,
                      help="a pruned model exported by a run "
                      "(seed_S/coprune_target.npz) or a table "
                      "(cells/<setting>/<method>/seed_S.npz)")
  parser.add_argument("--seed", type=int, default=0,
                      help="the seed of the run that exported it (data split)")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a config entry")
  parser.add_argument("--data-root", default=None,
                      help="offline data folder (default: $COPRUNE_DATA_DIR, "
                      "or the config's data_root)")


def load(args: argparse.Namespace) -> tuple:
  """(config, experiment, (params, model_state), param masks)."""
  if not os.path.isfile(args.model_file):
    raise FileNotFoundError(f"no model file {args.model_file}")
  config = config_files.load_config(args.config)
  config_files.apply_overrides(config, args.overrides)
  data_root = args.data_root or os.environ.get("COPRUNE_DATA_DIR")
  if data_root:
    config.data_root = data_root
  experiment = run.Experiment(config)
  params, model_state = experiment.init_weights(args.seed)
  loaded, masks = sparse_file.load_pruned(
      args.model_file, like={"params": params, "model_state": model_state},
      with_masks=True)
  return (config, experiment, (loaded["params"], loaded["model_state"]),
          masks["params"])


def target_accuracies(experiment, model_state):
  """`accuracies(params) -> {"val": ..., "test": ...}` on the target."""
  evaluate = phases.make_evaluator(experiment.classifier)
  data = experiment.data
  return lambda params: {
      "val": evaluate((params, model_state), data.target_val),
      "test": evaluate((params, model_state), data.target_test)}


def result_header(args: argparse.Namespace, weights: tuple) -> dict:
  """Date, machine, the model file and its dense float32 size, for JSON."""
  return {"date": datetime.date.today().isoformat(),
          "machine": platform.node(), "device": jax.devices()[0].device_kind,
          "model_file": args.model_file,
          "file_bytes": os.path.getsize(args.model_file),
          "dense_float32_bytes": 4 * sum(
              x.size for x in jax.tree.leaves(weights))}
