"""train_and_evaluate: pretrain -> fine-tune -> Co-Prune -> evaluate, per seed."""

import json
import os
from typing import Optional

import ml_collections

import coprune_jax as cj
from coprune_jax import models
from coprune_jax import tree_paths
from coprune_jax.train import phases
from coprune_jax.train import report as report_lib
from coprune_jax.train import trainers
from coprune_jax.train.config_files import ConfigError, to_json
from coprune_jax.train.experiment_data import build_data, ExperimentData
from coprune_jax.train.metrics_log import MetricsLog

PHASES = ("pretrain", "finetune", "prune")
# Where the data lives does not change the experiment.
_NOT_COMPARED_ON_RESUME = ("data_root", "config_file")


def alpha_schedule_of(prune_config) -> cj.AlphaSchedule:
  if prune_config.get("eq7"):
    alpha_0, alpha_min, beta = prune_config.eq7
    return cj.alpha_schedule(alpha_0=alpha_0, alpha_min=alpha_min, beta=beta)
  return cj.alpha_schedule(list(prune_config.alphas))


def keep_ratio_rules(prune_config):
  """Config keep ratios: a list of (regex, keep_ratio); [(".*", r)] for all."""
  return [tuple(rule) for rule in prune_config.keep_ratios]


class Experiment:
  """A validated config with its data and model, before anything is written."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    try:
      self.data: ExperimentData = build_data(config)
      self.classifier = models.Classifier(models.make_model(
          config.model.name, len(self.data.label_names),
          **dict(config.model.get("kwargs", {}))))
      params, _ = self.init_weights(0)
      self.keep_ratios = cj.keep_ratio_tree(
          params, keep_ratio_rules(config.prune))
      self.schedule = alpha_schedule_of(config.prune)
      cj.masks.resolve_fusion(config.prune.fusion)
    except (ValueError, KeyError, TypeError) as e:
      raise ConfigError(str(e)) from e

  def init_weights(self, seed: int) -> tuple:
    """(params, model_state) of a freshly initialised model."""
    return self.classifier.init(seed, self.data.input_shape)


def prepare_workdir(workdir: str, config, resume: bool) -> None:
  """Checks the run directory; writes the resolved config of a new run."""
  config_path = os.path.join(workdir, "config.json")
  current = json.loads(to_json(config))
  if os.path.exists(config_path):
    if not resume:
      raise ConfigError(f"{workdir} already holds a run; pass --resume to "
                        f"continue it or choose another --workdir")
    with open(config_path) as f:
      saved = json.load(f)
    for key in _NOT_COMPARED_ON_RESUME:
      saved.pop(key, None)
      current.pop(key, None)
    if saved != current:
      changed = sorted(k for k in set(saved) | set(current)
                       if saved.get(k) != current.get(k))
      raise ConfigError(f"{workdir} holds a run of another config (differs "
                        f"in {changed}); resume it with its own config")
    return
  if os.path.isdir(workdir) and os.listdir(workdir):
    raise ConfigError(f"{workdir} is not empty and holds no run")
  os.makedirs(workdir, exist_ok=True)
  with open(config_path, "w") as f:
    f.write(to_json(config))


def _pruned_model_facts(params, masks) -> dict:
  sizes = {n: w.size for n, w in tree_paths.named_leaves(params)}
  kept = cj.kept_counts(masks)
  return {"kept_per_layer": kept,
          "kept_total": sum(kept.values()),
          "prunable_total": sum(sizes[n] for n in kept)}


def run_seed(experiment: Experiment, seed: int, workdir: str, until: str,
             progress: bool, on_epoch_end=None) -> Optional[dict]:
  config, data = experiment.config, experiment.data
  ctx = phases.PhaseContext(experiment.classifier, seed,
                            os.path.join(workdir, f"seed_{seed}"),
                            MetricsLog(os.path.join(workdir, "metrics.jsonl")),
                            progress, on_epoch_end,
                            config.checkpoint_every_seconds)
  evaluate = phases.make_evaluator(experiment.classifier)
  pre = config.pretrain
  source_weights = phases.train_dense(
      "pretrain", ctx, experiment.init_weights(seed), data.source_train,
      data.source_val, pre.epochs, pre.batch_size, pre.learning_rate)
  if until == "pretrain":
    return None
  fine = config.finetune
  target_weights = phases.train_dense(
      "finetune", ctx, source_weights, data.target_train, data.target_val,
      fine.epochs, fine.batch_size, fine.learning_rate)
  results = {
      "source_on_source_test": evaluate(source_weights, data.source_test),
      "source_on_target_test": evaluate(source_weights, data.target_test),
      "finetuned_on_target_val": evaluate(target_weights, data.target_val),
      "finetuned_on_target_test": evaluate(target_weights, data.target_test),
  }
  if until == "finetune":
    return results
  prune = config.prune
  methods = {"coprune": experiment.schedule}
  if prune.compare_alpha_zero:  # the target pruned alone, same budget
    methods["alpha0"] = cj.alpha_schedule([0.0] * experiment.schedule.num_stages)
  for method, schedule in methods.items():
    trainer = trainers.CoPruneTrainer(
        experiment.classifier.train_apply, experiment.keep_ratios, schedule,
        source_weights, target_weights, data.source_train, data.target_train,
        min(prune.batch_size, len(data.target_train)), prune.learning_rate,
        prune.fusion, prune.scope)
    best = phases.staged_training(
        method, ctx, trainer, data.target_val, prune.patience, prune.factor,
        prune.min_learning_rate, prune.max_epochs_per_stage)
    pruned, masks = trainer.target(best)
    results[f"{method}_on_target_val"] = evaluate(pruned, data.target_val,
                                                  masks)
    results[f"{method}_on_target_test"] = evaluate(pruned, data.target_test,
                                                   masks)
    results[f"{method}_selected_stage"] = int(best.stage)
    results[f"{method}_model"] = _pruned_model_facts(pruned[0], masks)
  return results


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       resume: bool = False, until: str = "prune",
                       progress: bool = True, on_epoch_end=None,
                       experiment: Optional[Experiment] = None) -> dict:
  """Runs every seed of `config` in `workdir`; returns the report.

  Raises ConfigError before writing anything if the config, its data or the
  run directory cannot be used.
  """
  if until not in PHASES:
    raise ConfigError(f"until must be one of {PHASES}, got {until!r}")
  experiment = experiment or Experiment(config)
  prepare_workdir(workdir, config, resume)
  per_seed = {}
  for seed in config.seeds:
    results = run_seed(experiment, seed, workdir, until, progress, on_epoch_end)
    if results is not None:
      per_seed[str(seed)] = results
      with open(os.path.join(workdir, f"seed_{seed}", "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
  if not per_seed:
    return {}
  return report_lib.write_report(workdir, experiment, per_seed)
