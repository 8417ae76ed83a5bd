"""A results table: methods x keep-ratio settings x seeds, cell by cell.

Per seed the source model and its target fine-tune are trained once (their
checkpoints make them free on resume); every method then starts from them.
A finished cell writes `cells/<setting>/<method>/seed_<s>.json` and is never
redone; an interrupted one resumes from its own checkpoints.
"""

import json
import os
from typing import Optional

import jax
import ml_collections

from coprune_jax import sharding
from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.train import methods
from coprune_jax.train import phases
from coprune_jax.train import run
from coprune_jax.train import table_report
from coprune_jax.train.config_files import ConfigError


def check_table_config(config: ml_collections.ConfigDict) -> None:
  table = config.get("table")
  if table is None:
    raise ConfigError("the config has no `table` section (name, methods, "
                      "keep_settings)")
  try:
    methods.check_defined(table.methods, config.get("methods") or {},
                          "table.methods")
  except ValueError as e:
    raise ConfigError(str(e)) from e
  names = [name for name, _ in table.keep_settings]
  if len(set(names)) != len(names) or not names:
    raise ConfigError(f"keep_settings need distinct names, got {names}")
  if table_report.KEEP_RATIO_FREE_SETTING in names:
    raise ConfigError(f"keep setting name "
                      f"{table_report.KEEP_RATIO_FREE_SETTING!r} is reserved")
  for name in names:
    if not name.replace(".", "").replace("_", "").isalnum():
      raise ConfigError(f"keep setting name {name!r}: use letters, digits, "
                        f"'.' and '_' (it names a folder)")


def _cell_path(workdir: str, setting: str, method: str, seed: int) -> str:
  return os.path.join(workdir, "cells", setting, method, f"seed_{seed}.json")


def _read_cell(path: str, rules) -> Optional[dict]:
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    cell = json.load(f)
  if [list(r) for r in cell["keep_ratio_rules"]] != [list(r) for r in rules]:
    raise ConfigError(f"{path} was computed with keep ratios "
                      f"{cell['keep_ratio_rules']}, the config now says "
                      f"{rules}; use another --workdir")
  return cell


def _write_atomically(path: str, payload: dict) -> None:
  if not sharding.is_primary():
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(payload, f, indent=1, sort_keys=True)
  os.replace(path + ".tmp", path)


def _dense_outcome(experiment: run.Experiment, weights,
                   placement=None) -> dict:
  """A dense model on the target data: the fine-tuned target (every
  method's usual start) or the source alone."""
  evaluate = phases.make_evaluator(experiment.classifier, placement=placement)
  data = experiment.data
  count = sum(x.size for x in jax.tree.leaves(weights[0]))
  return {"on_target_val": evaluate(weights, data.target_val),
          "on_target_test": evaluate(weights, data.target_test),
          "selected_stage": 0,
          "model": {"kept_per_layer": {}, "kept_total": count,
                    "prunable_total": count}}


def run_table(config: ml_collections.ConfigDict, workdir: str,
              results_dir: str, resume: bool = False, progress: bool = True,
              on_epoch_end=None, report_only: bool = False,
              placement=None) -> list[dict]:
  """Runs every missing cell, then writes the table; returns all cells.

  With `report_only`, runs nothing and writes the table of the finished
  cells (e.g. while another process is still filling the table). With a
  `placement` (`sharding.Placement`), every training step runs on its mesh.
  """
  check_table_config(config)
  run.check_placement(config, placement)
  experiment = run.Experiment(config)
  if report_only:
    if not os.path.isfile(os.path.join(workdir, "config.json")):
      raise ConfigError(f"{workdir} holds no table run")
  else:
    # Methods, settings and seeds may grow between resumed runs: cells are
    # keyed by name and seed and check their own keep ratios.
    run.prepare_workdir(workdir, config, resume,
                        ignore=("table", "seeds", "methods"))
  table = config.table
  cells = []
  for seed in config.seeds:
    ctx = run.seed_context(experiment, seed, workdir, progress, on_epoch_end,
                           placement)
    weights = []  # [source, target], trained on the first missing cell

    def start_weights():
      if not weights:
        weights.append(run.pretrain(experiment, ctx))
        weights.append(run.finetune(experiment, ctx, weights[0]))
      return weights

    def run_cell(setting, method, rules, keep_ratios):
      path = _cell_path(workdir, setting, method, seed)
      cell = _read_cell(path, rules)
      if cell is None and report_only:
        return
      if cell is None:
        if method in table_report.DENSE_MODELS:
          outcome = _dense_outcome(
              experiment,
              start_weights()[table_report.DENSE_MODELS.index(method)],
              ctx.placement)
        else:
          start = run.method_start(experiment, seed, *start_weights(),
                                   keep_ratios)
          outcome = run.prune_and_evaluate(
              method, config.methods[method], start, ctx,
              f"{setting}/{method}",
              path.replace(".json", ".npz"))
        cell = {"setting": setting, "method": method, "seed": seed,
                "keep_ratio_rules": [list(r) for r in rules], **outcome}
        _write_atomically(path, cell)
      cells.append(cell)

    for dense in table_report.DENSE_MODELS:
      run_cell(table_report.KEEP_RATIO_FREE_SETTING, dense, [], None)

    for setting, rules in table.keep_settings:
      try:
        keep_ratios = keep_ratios_lib.keep_ratio_tree(
            experiment.init_weights(0)[0], [tuple(r) for r in rules])
      except ValueError as e:
        raise ConfigError(f"keep setting {setting!r}: {e}") from e
      for method in table.methods:
        if not methods.keep_ratio_free(config.methods[method]):
          run_cell(setting, method, rules, keep_ratios)
    for method in table.methods:
      if methods.keep_ratio_free(config.methods[method]):
        # One cell per seed, whatever the setting.
        run_cell(table_report.KEEP_RATIO_FREE_SETTING, method, [],
                 experiment.keep_ratios)
  if sharding.is_primary():
    table_report.write_table(cells, config, results_dir)
  return cells
