"""train_and_evaluate: pretrain -> fine-tune -> Co-Prune -> evaluate, per seed."""

import dataclasses
import json
import os
from typing import Optional

import jax
import ml_collections

from coprune_jax import models
from coprune_jax import sharding
from coprune_jax.compression import sparse_file
from coprune_jax.core import alpha as alpha_lib
from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.train import config_checks
from coprune_jax.train import config_files
from coprune_jax.train import methods
from coprune_jax.train import phases
from coprune_jax.train import protocol
from coprune_jax.train import report as report_lib
from coprune_jax.train import stages
from coprune_jax.train import trainers
from coprune_jax.train.config_files import ConfigError, to_json
from coprune_jax.train.experiment_data import build_data, ExperimentData
from coprune_jax.train.metrics_log import MetricsLog

PHASES = ("pretrain", "finetune", "prune")
# Where the data lives does not change the experiment, nor how its values
# were given (the overrides themselves are compared as the values they set).
_NOT_COMPARED_ON_RESUME = ("data_root", "config_file", "overrides")


def alpha_schedule_of(prune_config) -> alpha_lib.AlphaSchedule:
  if prune_config.get("eq7"):
    alpha_0, alpha_min, beta = prune_config.eq7
    return alpha_lib.alpha_schedule(alpha_0=alpha_0, alpha_min=alpha_min,
                                    beta=beta)
  return alpha_lib.alpha_schedule(list(prune_config.alphas))


class Experiment:
  """A validated config with its data and model, before anything is written."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    config_checks.check_values(config)
    try:
      self.data: ExperimentData = build_data(config)
      params = self._build_model(config.model)
      self.keep_ratios = keep_ratios_lib.keep_ratio_tree(
          params, config_files.keep_ratio_rules(config.prune.keep_ratios))
      self.schedule = alpha_schedule_of(config.prune)
      trainers.check_initial_masks(config.prune.initial_masks)
      if config.prune.target_start not in protocol.TARGET_STARTS:
        raise ValueError(f"prune.target_start must be one of "
                         f"{protocol.TARGET_STARTS}, got "
                         f"{config.prune.target_start!r}")
      if not config.get("methods"):
        raise ValueError("the config defines no methods: give `methods`, "
                         "{name: section} (see coprune_jax.train.methods)")
      for name, section in config.methods.items():
        methods.check_method(name, section, params, self.keep_ratios)
      methods.check_defined(config.get("compare", ()), config.methods,
                            "compare")
    except (ValueError, KeyError, TypeError) as e:
      raise ConfigError(str(e)) from e

  def _build_model(self, model_config):
    """Sets the classifier; returns its params at seed 0."""
    models.check_model_name(model_config.name)  # not a kwargs problem
    kwargs = dict(model_config.get("kwargs", {}))
    try:
      self.classifier = models.Classifier(models.make_model(
          model_config.name, len(self.data.label_names), **kwargs))
      return self.init_weights(0)[0]
    except (ValueError, KeyError, TypeError) as e:
      raise ConfigError(f"model.kwargs={kwargs} do not fit model "
                        f"{model_config.name!r}: {e}") from e

  def init_weights(self, seed: int) -> tuple:
    """(params, model_state) of a freshly initialised model."""
    return self.classifier.init(seed, self.data.input_shape)


def require_run(workdir: str) -> None:
  """Raises ConfigError unless `workdir` holds a run to resume."""
  if not os.path.isfile(os.path.join(workdir, "config.json")):
    state = "does not exist" if not os.path.exists(workdir) else "holds no run"
    raise ConfigError(f"cannot resume: {workdir} {state} (no config.json); "
                      f"check the path, or drop --resume to start a new run")


def prepare_workdir(workdir: str, config, resume: bool,
                    ignore: tuple[str, ...] = ()) -> None:
  """Checks the run directory; writes the resolved config of a new run.

  On resume the config must equal the saved one, except for the top-level
  entries in `ignore` (and where the data lives). In a multi-host run every
  process checks, then the first one writes.
  """
  new_run = _check_workdir(workdir, config, resume, ignore)
  sharding.barrier("workdir checked")
  if new_run and sharding.is_primary():
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(to_json(config))
  sharding.barrier("workdir written")


# Settings added after runs were written, at the values those runs used:
# an old run resumes with them (and says which to --set if they differ).
_LEGACY_SETTINGS = {
    "prune": {"target_start": "finetuned", "report_test_selected": False,
              "patience_steps": 0, "max_steps_per_stage": 0},
}


def _with_legacy_settings(saved: dict, current: dict) -> dict:
  """`saved` with the settings the current config has and it lacks."""
  for section, settings in _LEGACY_SETTINGS.items():
    if isinstance(saved.get(section), dict):
      for key, value in settings.items():
        if key in current.get(section, {}):
          saved[section].setdefault(key, value)
  return saved


def _check_workdir(workdir: str, config, resume: bool,
                   ignore: tuple[str, ...]) -> bool:
  """Raises ConfigError if `workdir` cannot take this run; True if new."""
  config_path = os.path.join(workdir, "config.json")
  current = json.loads(to_json(config))
  if os.path.exists(config_path):
    if not resume:
      raise ConfigError(f"{workdir} already holds a run; pass --resume to "
                        f"continue it or choose another --workdir")
    with open(config_path) as f:
      saved = _with_legacy_settings(json.load(f), current)
    for key in _NOT_COMPARED_ON_RESUME + tuple(ignore):
      saved.pop(key, None)
      current.pop(key, None)
    if saved != current:
      changed = "; ".join(config_files.differences(saved, current))
      raise ConfigError(f"{workdir} holds a run of another config ({changed});"
                        f" resume it with its own config")
    return False
  if os.path.isdir(workdir) and os.listdir(workdir):
    raise ConfigError(f"{workdir} is not empty and holds no run")
  return True


def method_start(experiment: Experiment, seed: int, source_weights,
                 target_weights, keep_ratios=None) -> methods.Start:
  """What every method of a seed starts from: the fine-tuned target, or
  with `prune.target_start="source"` (the released code's) the source."""
  config = experiment.config
  if config.prune.target_start == "source":
    target_weights = source_weights
  return methods.Start(
      experiment.classifier, config.model, experiment.data,
      experiment.keep_ratios if keep_ratios is None else keep_ratios,
      experiment.schedule, config.prune, source_weights, target_weights,
      seed)


def export_model(path: str, weights: tuple, masks) -> Optional[dict]:
  """Writes (params, model_state) as a CSR sparse file; returns its sizes
  (None on the processes of a multi-host run that do not write).

  `sparse_file.load_pruned(path)` gives {"params": W * M, "model_state": ...}.
  """
  weights, masks = sharding.local_copy((weights, masks))
  if not sharding.is_primary():
    return None
  params, model_state = weights
  no_masks = jax.tree.map(lambda _: None, model_state)
  return sparse_file.save_pruned(path, {"params": params,
                                        "model_state": model_state},
                        {"params": masks, "model_state": no_masks}, "csr")


def stage_epochs(prune, target_train_size: int) -> tuple:
  """The pruning stages' plateau patience and cap in epochs: the prune
  section's epochs, or more where epochs are too short to hold its
  `patience_steps` and `max_steps_per_stage` steps."""
  steps = stages.steps_per_epoch(prune.batch_size, target_train_size)
  return (stages.epochs_holding(prune.patience, prune.patience_steps, steps),
          stages.epochs_holding(prune.max_epochs_per_stage,
                                prune.max_steps_per_stage, steps))


def prune_and_evaluate(method: str, section, start: methods.Start,
                       ctx: phases.PhaseContext, phase: str,
                       export_path: Optional[str] = None) -> dict:
  """Trains the method `section` (named `method`) from `start` as phase
  `phase`; its validation-selected model's accuracies and kept counts, and
  its file's sizes (`export_model`) if `export_path` is given."""
  prune, data = start.prune, start.data
  trainer, classifier = methods.build_trainer(method, section, start)
  patience, max_epochs = stage_epochs(prune, len(data.target_train))
  best, progress = phases.staged_training(
      phase, dataclasses.replace(ctx, classifier=classifier), trainer,
      data.target_val, patience, prune.factor, prune.min_learning_rate,
      max_epochs,
      monitor=data.target_test if prune.report_test_selected else None)
  weights, masks = trainer.target(best)
  evaluate = phases.make_evaluator(classifier, placement=ctx.placement)
  facts = methods.pruned_model_facts(section, start, weights[0], masks)
  if export_path is not None:
    sizes = export_model(export_path, weights, masks)
    if sizes is not None:
      facts["file"] = sizes
  outcome = {"on_target_val": evaluate(weights, data.target_val, masks),
             "on_target_test": evaluate(weights, data.target_test, masks),
             "selected_stage": progress.best_stage, "model": facts}
  mask_iou = trainer.record(best).get("mask_iou")
  if mask_iou is not None:  # Co-Prune: how much the target copies the source
    outcome["mask_iou"] = mask_iou
  if prune.report_test_selected:
    # Selected on test data, as the paper did: for comparison only.
    outcome["test_selected_on_target_test"] = progress.best_monitored
  return outcome


def pretrain(experiment: Experiment, ctx: phases.PhaseContext) -> tuple:
  """The source model best on source validation data."""
  data, pre = experiment.data, experiment.config.pretrain
  return phases.train_dense(
      "pretrain", ctx, experiment.init_weights(ctx.seed), data.source_train,
      data.source_val, pre.epochs, pre.batch_size, pre.learning_rate)


def finetune(experiment: Experiment, ctx: phases.PhaseContext,
             source_weights: tuple) -> tuple:
  """The source model fine-tuned on the target, best on target validation."""
  data, fine = experiment.data, experiment.config.finetune
  return phases.train_dense(
      "finetune", ctx, source_weights, data.target_train, data.target_val,
      fine.epochs, fine.batch_size, fine.learning_rate)


def check_placement(config, placement) -> None:
  """Every batch must split evenly over the mesh's devices."""
  if placement is None:
    return
  devices = placement.mesh.size
  for phase in ("pretrain", "finetune", "prune"):
    size = config[phase].batch_size
    if size % devices:
      raise ConfigError(f"{phase}.batch_size={size} does not split over "
                        f"{devices} devices")


def seed_context(experiment: Experiment, seed: int, workdir: str,
                 progress: bool, on_epoch_end=None,
                 placement=None) -> phases.PhaseContext:
  """The phases' context of one seed of a run or table in `workdir`."""
  return phases.PhaseContext(
      experiment.classifier, seed, os.path.join(workdir, f"seed_{seed}"),
      MetricsLog(os.path.join(workdir, "metrics.jsonl")),
      progress and sharding.is_primary(), on_epoch_end,
      experiment.config.checkpoint_every_seconds, placement)


def run_seed(experiment: Experiment, seed: int, workdir: str, until: str,
             progress: bool, on_epoch_end=None,
             placement=None) -> Optional[dict]:
  config, data = experiment.config, experiment.data
  ctx = seed_context(experiment, seed, workdir, progress, on_epoch_end,
                     placement)
  evaluate = phases.make_evaluator(experiment.classifier,
                                   placement=ctx.placement)
  source_weights = pretrain(experiment, ctx)
  if until == "pretrain":
    return None
  target_weights = finetune(experiment, ctx, source_weights)
  results = {
      "source_on_source_test": evaluate(source_weights, data.source_test),
      "source_on_target_test": evaluate(source_weights, data.target_test),
      "finetuned_on_target_val": evaluate(target_weights, data.target_val),
      "finetuned_on_target_test": evaluate(target_weights, data.target_test),
  }
  if until == "finetune":
    return results
  start = method_start(experiment, seed, source_weights, target_weights)
  for method in config.compare:
    outcome = prune_and_evaluate(
        method, config.methods[method], start, ctx, method,
        os.path.join(ctx.checkpoint_dir, f"{method}_target.npz"))
    results.update({f"{method}_{k}": v for k, v in outcome.items()})
  return results


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       resume: bool = False, until: str = "prune",
                       progress: bool = True, on_epoch_end=None,
                       experiment: Optional[Experiment] = None,
                       placement=None) -> dict:
  """Runs every seed of `config` in `workdir`; returns the report.

  `placement` (a `sharding.Placement`) runs every training step on its
  device mesh. Raises ConfigError before writing anything if the config,
  its data or the run directory cannot be used.
  """
  if until not in PHASES:
    raise ConfigError(f"until must be one of {PHASES}, got {until!r}")
  check_placement(config, placement)
  if until == "prune" and not config.get("compare"):
    raise ConfigError("the config lists no methods to run: set compare, "
                      "e.g. compare=('coprune', 'alpha0'), names of its "
                      "`methods`")
  experiment = experiment or Experiment(config)
  prepare_workdir(workdir, config, resume)
  per_seed = {}
  for seed in config.seeds:
    results = run_seed(experiment, seed, workdir, until, progress, on_epoch_end,
                       placement)
    if results is not None and sharding.is_primary():
      per_seed[str(seed)] = results
      with open(os.path.join(workdir, f"seed_{seed}", "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
  if not per_seed:
    return {}
  return report_lib.write_report(workdir, experiment, per_seed)
