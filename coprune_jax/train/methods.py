"""Every method of the paper's tables as a trainer from one common start.

All methods start from the same fine-tuned target model (the distillation
student cannot: it has another shape, so it starts from scratch), use the
same per-layer keep ratios, the same data and batch size, and the same stage
structure: as many stages as Co-Prune's alpha list, each trained to its
optimum under the plateau rule, the next from the best state with fresh
Adam. `phases.staged_training` runs them all.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import numpy as np

import coprune_jax as cj
from coprune_jax import models
from coprune_jax.baselines import ddc
from coprune_jax.baselines import distillation
from coprune_jax.baselines import one_shot
from coprune_jax.core import tree_paths
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import phases
from coprune_jax.train import stages
from coprune_jax.train import trainers
from coprune_jax.train.alpha_probe import AlphaProbe
from coprune_jax.train.experiment_data import ExperimentData

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Start:
  """What every method starts from, for one seed and one keep-ratio setting."""
  classifier: Classifier
  model_config: Any  # {name, kwargs}: to build the distillation student
  data: ExperimentData
  keep_ratios: PyTree
  schedule: cj.AlphaSchedule  # Co-Prune's; fixes every method's stage count
  prune: Any  # the config's prune section
  baselines: Any  # the config's baselines section
  source_weights: tuple  # (params, model_state)
  target_weights: tuple
  seed: int

  @property
  def batch_size(self) -> int:
    return min(self.prune.batch_size, len(self.data.target_train))


def _coprune(schedule_of: Callable[[Start], cj.AlphaSchedule],
             **overrides):
  """Co-Prune with the config's prune settings, some of them overridden
  (fusion, hysteresis, gradual_epochs, alpha_candidates) for a named
  variant."""
  def build(start: Start):
    prune = {**start.prune, **overrides}
    steps = stages.steps_per_epoch(start.batch_size,
                                   len(start.data.target_train))
    gradual_steps = prune["gradual_epochs"] * steps
    source_pruner, target_pruner = coprune_pruners(
        start.keep_ratios, prune["fusion"], prune["scope"],
        prune["hysteresis"], gradual_steps)
    return trainers.CoPruneTrainer(
        train_apply=start.classifier.train_apply, schedule=schedule_of(start),
        source_weights=start.source_weights,
        target_weights=start.target_weights,
        source_train=start.data.source_train,
        target_train=start.data.target_train, batch_size=start.batch_size,
        source_pruner=source_pruner, target_pruner=target_pruner,
        learning_rate=prune["learning_rate"],
        initial_masks=prune["initial_masks"], dense_steps=gradual_steps,
        source_steps=prune["source_steps"],
        alpha_probe=_alpha_probe(start, prune)), start.classifier
  return build


def coprune_pruners(keep_ratios, fusion: str = "signed", scope: str = "layer",
                    hysteresis: float = 0.0, gradual_steps: int = 0):
  """(source pruner, target pruner) of Co-Prune: the source's magnitude
  masks, the target's of the fused weights; with `gradual_steps`, both
  reach the budget on Zhu & Gupta's schedule and go on updating after."""
  if gradual_steps:
    source = cj.pruners.gradual_magnitude(
        keep_ratios, begin_step=0, end_step=gradual_steps, update_every=1,
        gradient="straight_through", fixed_from_end=False)
  else:
    source = cj.pruners.magnitude(keep_ratios, scope=scope)
  return source, cj.pruners.cooperative(
      keep_ratios, 0.0, fusion, scope=scope, hysteresis=hysteresis,
      gradual_steps=gradual_steps)


def _alpha_probe(start: Start, prune) -> Optional[AlphaProbe]:
  if not prune["alpha_candidates"]:
    return None
  epochs = stages.epochs_holding(
      prune["alpha_probe_epochs"], prune["alpha_probe_steps"],
      stages.steps_per_epoch(start.batch_size, len(start.data.target_train)))
  return AlphaProbe(tuple(prune["alpha_candidates"]), epochs,
                    start.data.target_val,
                    phases.make_evaluator(start.classifier), start.seed)


def _constant_alpha(alpha: float):
  return lambda s: cj.alpha_schedule([alpha] * s.schedule.num_stages)


def _masked(start: Start, masks: PyTree, weights=None, **kwargs):
  return trainers.MaskedTrainer(
      train_apply=start.classifier.train_apply,
      initial_weights=weights or start.target_weights, initial_masks=masks,
      target_train=start.data.target_train, batch_size=start.batch_size,
      num_stages=start.schedule.num_stages,
      learning_rate=start.prune.learning_rate, **kwargs)


def _target_batches(start: Start):
  """The labelled target images once, unaugmented, as the one-shot
  criteria see them."""
  return pipeline.batches(start.data.target_train, start.batch_size, None,
                          False)


def _lwc(start: Start):
  masks = cj.magnitude_masks(start.target_weights[0], start.keep_ratios)
  return _masked(start, masks), start.classifier


def _one_time_coprune(start: Start):
  _, masks = cj.cooperative_masks(
      start.source_weights[0], start.target_weights[0], start.schedule(0),
      start.keep_ratios, start.prune.fusion, start.prune.scope)
  return _masked(start, masks), start.classifier


def _obd(start: Start):
  params, model_state = start.target_weights

  def logits_fn(p, inputs):
    return start.classifier.eval_apply(p, model_state, inputs)

  def loss_fn(p, batch):
    return cj.cross_entropy_loss(logits_fn(p, batch[0]), batch[1])

  b = start.baselines
  masks = one_shot.obd_masks(params, start.keep_ratios, _target_batches(start),
                             b.obd_hessian, logits_fn, loss_fn,
                             jax.random.key(start.seed), b.obd_probes)
  return _masked(start, masks), start.classifier


def _lobs(start: Start):
  params, model_state = start.target_weights
  if model_state:
    raise ValueError("L-OBS here supports models without normalisation "
                     "state (CIFAR-Net, LeNet-5, MLP)")
  new_params, masks = one_shot.lobs_prune_model(
      start.classifier.module, params,
      (x for x, _ in _target_batches(start)), start.keep_ratios,
      start.baselines.lobs_damping)
  return _masked(start, masks, (new_params, model_state)), start.classifier


def _dns(start: Start):
  # Starts from the magnitude masks (exact counts); the band's centre keeps
  # the count on the budget (dns_centre="budget"; "kth" lets it drift):
  # the report gives the true kept ratio.
  b = start.baselines
  masks = cj.magnitude_masks(start.target_weights[0], start.keep_ratios)
  pruner = cj.pruners.dns(start.keep_ratios, seed=start.seed,
                          hysteresis=b.dns_hysteresis, gamma=b.dns_gamma,
                          power=b.dns_power, centre=b.dns_centre)
  return _masked(start, masks, pruner=pruner), start.classifier


def _ddc_dns(start: Start):
  trainer, classifier = _dns(start)
  objective = ddc.ddc_objective(start.classifier.train_apply,
                                start.baselines.ddc_mmd_weight)
  return dataclasses.replace(trainer, objective=objective,
                             source_train=start.data.source_train), classifier


def student_classifier(start: Start) -> Classifier:
  """The slim network with about `distillation_fraction` of the parameters."""
  name, kwargs = start.model_config.name, dict(start.model_config.kwargs)
  num_classes = len(start.data.label_names)
  full = models.make_model(name, num_classes, **kwargs)
  if not hasattr(full, "widths"):
    raise ValueError(f"model {name!r} has no `widths`; distillation needs one")
  count = lambda widths: parameter_count(
      models.make_model(name, num_classes, **{**kwargs, "widths": widths}),
      start.data.input_shape)
  widths = distillation.slim_widths(count, full.widths,
                                    start.baselines.distillation_fraction,
                                    max_offset=1)
  return Classifier(models.make_model(name, num_classes,
                                      **{**kwargs, "widths": widths}))


def parameter_count(module, input_shape) -> int:
  shapes = jax.eval_shape(lambda: Classifier(module).init(0, input_shape))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))


def _distillation(start: Start):
  b = start.baselines
  student = student_classifier(start)
  teacher_params, teacher_state = start.target_weights
  teacher = lambda x: start.classifier.eval_apply(teacher_params,
                                                  teacher_state, x)
  weights = student.init(start.seed, start.data.input_shape)
  no_masks = jax.tree.map(lambda _: None, weights[0])
  objective = distillation.distillation_objective(
      student.train_apply, teacher, b.distillation_temperature,
      b.distillation_soft_weight)
  return _masked(start, no_masks, weights, objective=objective), student


# name -> build(start) -> (trainer, classifier of the trained model)
METHODS = {
    "coprune": _coprune(lambda s: s.schedule),
    "coprune_eq7": _coprune(lambda s: cj.alpha_schedule(
        alpha_0=0.7, alpha_min=0.3, beta=3)),
    "coprune_magnitude": _coprune(lambda s: s.schedule, fusion="magnitude"),
    # Issue 16's variants beyond the paper.
    "coprune_matched": _coprune(lambda s: s.schedule,
                                fusion="signed_matched"),
    "coprune_hysteresis": _coprune(lambda s: s.schedule, hysteresis=0.1),
    "coprune_gradual": _coprune(lambda s: s.schedule, gradual_epochs=10),
    "coprune_source10": _coprune(lambda s: s.schedule, source_steps=10),
    "coprune_alpha_val": _coprune(lambda s: s.schedule,
                                  alpha_candidates=(0.0, 0.3, 0.5, 0.7, 1.0)),
    "alpha0": _coprune(_constant_alpha(0.0)),
    # alpha = 0 again: the same training, another data order (the order
    # follows the method's name). How far apart two runs of one method on
    # one seed land: the noise floor of every paired difference.
    "alpha0_reordered": _coprune(_constant_alpha(0.0)),
    "alpha1": _coprune(_constant_alpha(1.0)),
    # The source's mask alone, the source trained as in coprune_source10:
    # separates what its mask is worth from what the fusion adds.
    "alpha1_source10": _coprune(_constant_alpha(1.0), source_steps=10),
    "one_time_coprune": _one_time_coprune,
    "lwc": _lwc,
    "obd": _obd,
    "lobs": _lobs,
    "dns": _dns,
    "ddc_dns": _ddc_dns,
    "distillation": _distillation,
}

# Methods whose model does not depend on the keep ratios (one cell per seed).
KEEP_RATIO_FREE = ("distillation",)

LABELS = {
    "coprune": "Co-Prune", "coprune_eq7": "Co-Prune, Eq. 7 (beta = 3)",
    "coprune_magnitude": "Co-Prune, magnitude fusion",
    "coprune_matched": "Co-Prune, scale-matched signed fusion",
    "coprune_hysteresis": "Co-Prune, hysteresis 0.1 on the fused mask",
    "coprune_gradual": "Co-Prune, gradual sparsity over 10 epochs",
    "coprune_source10": "Co-Prune, 10 source steps per target step",
    "coprune_alpha_val": "Co-Prune, each stage's alpha chosen on validation",
    "alpha0": "alpha = 0 (target alone)", "alpha1": "alpha = 1",
    "alpha1_source10": "alpha = 1, 10 source steps per target step",
    "alpha0_reordered": "alpha = 0, another data order (noise floor)",
    "one_time_coprune": "one-time Co-Prune", "lwc": "LWC", "obd": "OBD",
    "lobs": "L-OBS", "dns": "DNS", "ddc_dns": "DDC-DNS",
    "distillation": "distillation (slim net)",
}


def build_trainer(method: str, start: Start):
  """(trainer, classifier) of `method`; raises ValueError for unknown names."""
  if method not in METHODS:
    raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
  return METHODS[method](start)


def pruned_model_facts(method: str, start: Start, trained_params,
                       masks) -> dict:
  """Kept weights per pruned layer and overall; for the distillation
  student, its parameter count against the full network's."""
  if method == "distillation":
    kept = sum(x.size for x in jax.tree.leaves(trained_params))
    full = sum(x.size for x in jax.tree.leaves(start.target_weights[0]))
    return {"kept_per_layer": {}, "kept_total": kept, "prunable_total": full}
  sizes = {n: w.size for n, w in tree_paths.named_leaves(trained_params)}
  kept = cj.kept_counts(masks)
  return {"kept_per_layer": kept, "kept_total": sum(kept.values()),
          "prunable_total": sum(sizes[n] for n in kept)}
