"""Methods as config sections that name pruners, built into trainers.

A method is a section of the config's `methods` (name -> section):

  methods = dict(
      coprune=cooperative_method("Co-Prune"),
      alpha0=cooperative_method("alpha = 0 (target alone)", alpha=0.0),
      dns=single_method("DNS", pruner_section("dns", hysteresis=0.1)),
      rigl=single_method("RigL", pruner_section(
          "rigl", end_step=dict(epochs=20), update_every=10)))

A pruner section names a factory of `pruners.PRUNERS` and its keyword
arguments, passed straight to it with the table setting's keep ratios and
the run's seed (where the factory takes them); `dict(epochs=N)` stands for
N epochs of target steps. Kinds:

- "cooperative": both domains at once (`trainers.CoPruneTrainer`), the
  `source` and `target` pruners; the alpha stages follow the prune
  section's schedule, or a constant `alpha`, or `eq7` = (alpha_0,
  alpha_min, beta); options `source_steps` and `alpha_candidates` (each
  stage's alpha chosen on validation data, `alpha_probe`).
- "single": the target alone (`trainers.MaskedTrainer`) under the `target`
  pruner, started as the pruner starts (`Pruner.start`: its one-shot
  criterion on the labelled target data, or its masks of the fine-tuned
  target with the source model as partner); `objective` "ddc" adds DDC's
  MMD term on source-target batch pairs.
- "distillation": a slim network trained from scratch on the fine-tuned
  target's soft labels (no masks).

All methods start from the same fine-tuned target, use the same data,
batch size and stage structure: as many stages as the prune section's
alpha schedule, each trained to its optimum under the plateau rule, the
next from the best state with fresh Adam. `phases.staged_training` runs
them all.
"""

import dataclasses
import inspect
from typing import Any

import jax
import numpy as np

from coprune_jax import models
from coprune_jax import pruners
from coprune_jax.baselines import ddc
from coprune_jax.baselines import distillation
from coprune_jax.core import alpha as alpha_lib
from coprune_jax.core import losses
from coprune_jax.core import masks as masks_lib
from coprune_jax.core import tree_paths
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import config_checks
from coprune_jax.train import phases
from coprune_jax.train import stages
from coprune_jax.train import trainers
from coprune_jax.train.alpha_probe import AlphaProbe
from coprune_jax.train.experiment_data import ExperimentData

PyTree = Any


def pruner_section(name: str, **options) -> dict:
  """A pruner: a factory's name in `pruners.PRUNERS` and its options."""
  return dict(name=name, **options)


def cooperative_method(label: str, source=None, target=None,
                       **options) -> dict:
  """A cooperative method: the source's pruner (default magnitude), the
  target's (default the paper's signed fusion) and options (see above)."""
  return dict(label=label, kind="cooperative",
              source=source or pruner_section("magnitude"),
              target=target or pruner_section("cooperative",
                                              fusion="signed"),
              **options)


def single_method(label: str, target: dict, **options) -> dict:
  """The target pruned alone by `target`'s pruner."""
  return dict(label=label, kind="single", target=target, **options)


# Each kind's options besides label, kind and pruners, with their defaults.
OPTIONS = {
    "cooperative": dict(alpha=None, eq7=None, source_steps=1,
                        alpha_candidates=(), alpha_probe_epochs=5,
                        alpha_probe_steps=0),
    "single": dict(objective="", mmd_weight=0.25),
    "distillation": dict(fraction=0.104, temperature=4.0, soft_weight=0.9),
}
PRUNER_KEYS = {"cooperative": ("source", "target"), "single": ("target",),
               "distillation": ()}
OBJECTIVES = ("", "ddc")


@dataclasses.dataclass(frozen=True)
class Start:
  """What every method starts from, for one seed and one keep-ratio setting."""
  classifier: Classifier
  model_config: Any  # {name, kwargs}: to build the distillation student
  data: ExperimentData
  keep_ratios: PyTree
  # The prune section's schedule; it fixes every method's stage count.
  schedule: alpha_lib.AlphaSchedule
  prune: Any  # the config's prune section
  source_weights: tuple  # (params, model_state)
  target_weights: tuple
  seed: int

  @property
  def batch_size(self) -> int:
    return min(self.prune.batch_size, len(self.data.target_train))

  @property
  def steps_per_epoch(self) -> int:
    return stages.steps_per_epoch(self.batch_size,
                                  len(self.data.target_train))


def options_of(section) -> dict:
  """The section's options, its kind's defaults filled in; ValueError for
  an unknown kind or option."""
  kind = section.get("kind")
  if kind not in OPTIONS:
    raise ValueError(f"kind must be one of {sorted(OPTIONS)}, got {kind!r}")
  given = {k: v for k, v in dict(section).items()
           if k not in ("label", "kind") + PRUNER_KEYS[kind]}
  unknown = sorted(set(given) - set(OPTIONS[kind]))
  if unknown:
    raise ValueError(f"unknown {kind} options {unknown}; known: "
                     f"{sorted(OPTIONS[kind])}")
  missing = [k for k in PRUNER_KEYS[kind] if k not in section]
  if missing:
    raise ValueError(f"a {kind} method needs the pruner sections {missing}")
  if kind == "single" and given.get("objective", "") not in OBJECTIVES:
    raise ValueError(f"objective must be one of {OBJECTIVES}, got "
                     f"{given['objective']!r}")
  for key, value in given.items():
    if key in config_checks.METHOD_OPTIONS and value is not None:
      config_checks.require(key, value, config_checks.METHOD_OPTIONS[key])
  return {**OPTIONS[kind], **given}


def check_defined(names, defined, where: str) -> None:
  """Raises ValueError if `names` (of `where`) name methods `defined`, the
  config's `methods`, lacks."""
  undefined = sorted(set(names) - set(defined))
  if undefined:
    raise ValueError(f"{where} names methods that `methods` does not "
                     f"define: {undefined}; defined: {sorted(defined)}")


def build_pruner(section, keep_ratios, seed: int,
                 steps_per_epoch: int) -> pruners.Pruner:
  """The pruner a section names, with `keep_ratios` and `seed` where its
  factory takes them (unless the section sets the seed)."""
  options = dict(section)
  factory = pruners.by_name(options.pop("name", None))
  accepted = inspect.signature(factory).parameters
  if "keep_ratios" in options:
    raise ValueError("keep ratios come from the prune section or the table "
                     "setting, not from a pruner section")
  options = {k: _in_steps(v, steps_per_epoch) for k, v in options.items()}
  if "keep_ratios" in accepted:
    options["keep_ratios"] = keep_ratios
  if "seed" in accepted:
    options.setdefault("seed", seed)
  try:
    return factory(**options)
  except TypeError as e:  # an option the factory does not take
    raise ValueError(f"pruner {section['name']!r}: {e}") from e


def _in_steps(value, steps_per_epoch: int):
  """`dict(epochs=N)` as N epochs of steps; other values as they are."""
  if hasattr(value, "keys") and set(value.keys()) == {"epochs"}:
    return int(value["epochs"]) * steps_per_epoch
  return value


def _schedule(options: dict, start: Start) -> alpha_lib.AlphaSchedule:
  if options["eq7"]:
    alpha_0, alpha_min, beta = options["eq7"]
    return alpha_lib.alpha_schedule(alpha_0=alpha_0, alpha_min=alpha_min,
                                    beta=beta)
  if options["alpha"] is not None:  # constant, over the protocol's stages
    return alpha_lib.alpha_schedule(
        [options["alpha"]] * start.schedule.num_stages)
  return start.schedule


def _alpha_probe(start: Start, options: dict):
  if not options["alpha_candidates"]:
    return None
  epochs = stages.epochs_holding(options["alpha_probe_epochs"],
                                 options["alpha_probe_steps"],
                                 start.steps_per_epoch)
  return AlphaProbe(tuple(options["alpha_candidates"]), epochs,
                    start.data.target_val,
                    phases.make_evaluator(start.classifier), start.seed)


def _cooperative(section, options: dict, start: Start):
  source_pruner, target_pruner = (
      build_pruner(section[domain], start.keep_ratios, start.seed,
                   start.steps_per_epoch) for domain in ("source", "target"))
  return trainers.CoPruneTrainer(
      train_apply=start.classifier.train_apply,
      schedule=_schedule(options, start),
      source_weights=start.source_weights,
      target_weights=start.target_weights,
      source_train=start.data.source_train,
      target_train=start.data.target_train, batch_size=start.batch_size,
      source_pruner=source_pruner, target_pruner=target_pruner,
      learning_rate=start.prune.learning_rate,
      initial_masks=start.prune.initial_masks,
      source_steps=options["source_steps"],
      alpha_probe=_alpha_probe(start, options)), start.classifier


def calibration_of(start: Start) -> pruners.Calibration:
  """The labelled target images once, unaugmented, and the fine-tuned
  target's functions: what one-shot criteria read."""
  _, model_state = start.target_weights
  logits_fn = lambda p, inputs: start.classifier.eval_apply(p, model_state,
                                                            inputs)
  return pruners.Calibration(
      batches=lambda: pipeline.batches(start.data.target_train,
                                       start.batch_size, None, False),
      logits_fn=logits_fn,
      loss_fn=lambda p, batch: losses.cross_entropy_loss(
          logits_fn(p, batch[0]), batch[1]),
      key=jax.random.key(start.seed), module=start.classifier.module,
      model_state=model_state)


def _single(section, options: dict, start: Start):
  pruner = build_pruner(section["target"], start.keep_ratios, start.seed,
                        start.steps_per_epoch)
  params, model_state = start.target_weights
  params, masks = pruner.start(
      params, partner_params=start.source_weights[0],
      calibration=calibration_of(start), alpha=start.schedule(0))
  objective, source_train = None, None
  if options["objective"] == "ddc":
    objective = ddc.ddc_objective(start.classifier.train_apply,
                                  options["mmd_weight"])
    source_train = start.data.source_train
  return trainers.MaskedTrainer(
      train_apply=start.classifier.train_apply,
      initial_weights=(params, model_state), initial_masks=masks,
      target_train=start.data.target_train, batch_size=start.batch_size,
      num_stages=start.schedule.num_stages,
      learning_rate=start.prune.learning_rate, pruner=pruner,
      objective=objective, source_train=source_train), start.classifier


def student_classifier(start: Start, fraction: float) -> Classifier:
  """The slim network with about `fraction` of the parameters."""
  name, kwargs = start.model_config.name, dict(start.model_config.kwargs)
  num_classes = len(start.data.label_names)
  full = models.make_model(name, num_classes, **kwargs)
  if not hasattr(full, "widths"):
    raise ValueError(f"model {name!r} has no `widths`; distillation needs one")
  count = lambda widths: parameter_count(
      models.make_model(name, num_classes, **{**kwargs, "widths": widths}),
      start.data.input_shape)
  widths = distillation.slim_widths(count, full.widths, fraction,
                                    max_offset=1)
  return Classifier(models.make_model(name, num_classes,
                                      **{**kwargs, "widths": widths}))


def parameter_count(module, input_shape) -> int:
  shapes = jax.eval_shape(lambda: Classifier(module).init(0, input_shape))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))


def _distillation(section, options: dict, start: Start):
  del section
  student = student_classifier(start, options["fraction"])
  teacher_params, teacher_state = start.target_weights
  teacher = lambda x: start.classifier.eval_apply(teacher_params,
                                                  teacher_state, x)
  weights = student.init(start.seed, start.data.input_shape)
  no_masks = jax.tree.map(lambda _: None, weights[0])
  objective = distillation.distillation_objective(
      student.train_apply, teacher, options["temperature"],
      options["soft_weight"])
  return trainers.MaskedTrainer(
      train_apply=student.train_apply, initial_weights=weights,
      initial_masks=no_masks, target_train=start.data.target_train,
      batch_size=start.batch_size, num_stages=start.schedule.num_stages,
      learning_rate=start.prune.learning_rate,
      objective=objective), student


# kind -> build(section, options, start) -> (trainer, classifier of the
# trained model)
BUILDERS = {"cooperative": _cooperative, "single": _single,
            "distillation": _distillation}


def keep_ratio_free(section) -> bool:
  """Whether the method's model ignores the keep ratios (one table cell
  per seed, whatever the setting)."""
  return section["kind"] == "distillation"


def check_method(name: str, section, params: PyTree, keep_ratios: PyTree):
  """Raises ValueError naming the method if its section cannot be built
  (an unknown kind, option, pruner or pruner option) for `params`."""
  try:
    options_of(section)
    if "label" not in section:
      raise ValueError("a method needs a label (its name in reports)")
    for domain in PRUNER_KEYS[section["kind"]]:
      pruner = build_pruner(section[domain], keep_ratios, seed=0,
                            steps_per_epoch=1)
      if pruner.keep_ratios is not None:
        pruner.keep_ratio_tree(params)
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"method {name!r}: {e}") from e


def build_trainer(name: str, section, start: Start):
  """(trainer, classifier of the trained model) of the method `section`."""
  options = options_of(section)
  try:
    return BUILDERS[section["kind"]](section, options, start)
  except (ValueError, TypeError) as e:
    raise ValueError(f"method {name!r}: {e}") from e


def pruned_model_facts(section, start: Start, trained_params, masks) -> dict:
  """Kept weights per pruned layer and overall; for the distillation
  student, its parameter count against the full network's."""
  if keep_ratio_free(section):
    kept = sum(x.size for x in jax.tree.leaves(trained_params))
    full = sum(x.size for x in jax.tree.leaves(start.target_weights[0]))
    return {"kept_per_layer": {}, "kept_total": kept, "prunable_total": full}
  sizes = {n: w.size for n, w in tree_paths.named_leaves(trained_params)}
  kept = masks_lib.kept_counts(masks)
  return {"kept_per_layer": kept, "kept_total": sum(kept.values()),
          "prunable_total": sum(sizes[n] for n in kept)}
