"""Checks of an experiment config's values, before anything runs or is written.

A zero batch size or a negative learning rate would otherwise pass the type
checks of `ml_collections` and fail hours later, after pretraining, with a
traceback and a half-written run directory.
"""

import math
import numbers

from coprune_jax.train.config_files import ConfigError


def _integer(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value))


def positive_integer(value) -> bool:
  return _integer(value) and value >= 1


def non_negative_integer(value) -> bool:
  return _integer(value) and value >= 0


def positive_number(value) -> bool:
  return _number(value) and value > 0


def non_negative_number(value) -> bool:
  return _number(value) and value >= 0


def open_fraction(value) -> bool:
  return _number(value) and 0 < value < 1


def fraction_up_to_one(value) -> bool:
  return _number(value) and 0 < value <= 1


def fraction_from_zero(value) -> bool:
  return _number(value) and 0 <= value < 1


def alpha(value) -> bool:
  return _number(value) and 0 <= value <= 1


def alphas(value) -> bool:
  return isinstance(value, (tuple, list)) and all(
      _number(a) and 0 <= a <= 1 for a in value)


_DESCRIPTIONS = {
    positive_integer: "an integer >= 1",
    non_negative_integer: "an integer >= 0",
    positive_number: "a number > 0",
    non_negative_number: "a number >= 0",
    open_fraction: "a number in (0, 1)",
    fraction_up_to_one: "a number in (0, 1]",
    fraction_from_zero: "a number in [0, 1)",
    alpha: "a number in [0, 1]",
    alphas: "a tuple of numbers in [0, 1]",
}

_TRAINING = {"epochs": positive_integer, "batch_size": positive_integer,
             "learning_rate": positive_number}

# Checked where present; every other value is checked where it is used
# (keep ratios, the alpha schedule, fusion, data kinds, model arguments).
RULES = {
    "split_seed": non_negative_integer,
    "checkpoint_every_seconds": non_negative_number,
    **{f"{phase}.{key}": check for phase in ("pretrain", "finetune")
       for key, check in _TRAINING.items()},
    "prune.batch_size": positive_integer,
    "prune.learning_rate": positive_number,
    "prune.patience": positive_integer,
    "prune.factor": open_fraction,
    "prune.min_learning_rate": positive_number,
    "prune.max_epochs_per_stage": positive_integer,
    "prune.patience_steps": non_negative_integer,
    "prune.max_steps_per_stage": non_negative_integer,
    **{f"{domain}.{key}": check for domain in ("source", "target")
       for key, check in {
           "num_train": positive_integer, "num_test": positive_integer,
           "image_size": positive_integer, "stored_size": positive_integer,
           "val_fraction": open_fraction, "test_fraction": open_fraction,
           "labels_per_class": positive_integer,
           "val_per_class": positive_integer}.items()},
    "input.image_size": positive_integer,
    "input.channels": positive_integer,
}

# A method section's options (`train.methods.OPTIONS`); pruner options are
# checked by their factories.
METHOD_OPTIONS = {
    "alpha": alpha, "source_steps": positive_integer,
    "alpha_candidates": alphas, "alpha_probe_epochs": positive_integer,
    "alpha_probe_steps": non_negative_integer,
    "mmd_weight": non_negative_number, "fraction": fraction_up_to_one,
    "temperature": positive_number, "soft_weight": non_negative_number,
}


_ABSENT = object()


def _lookup(config, key: str):
  node = config
  for part in key.split("."):
    if not hasattr(node, "get") or part not in node:
      return _ABSENT
    node = node[part]
  return node


def check_values(config) -> None:
  """Raises ConfigError naming the first entry of `config` out of range."""
  seeds = config.get("seeds")
  if not seeds or not all(non_negative_integer(s) for s in seeds):
    raise ConfigError(f"seeds must be a non-empty tuple of integers >= 0, got "
                      f"{seeds!r}")
  for key, check in RULES.items():
    value = _lookup(config, key)
    if value is not _ABSENT:
      require(key, value, check)


def require(name: str, value, check) -> None:
  """Raises ConfigError (a ValueError) unless `check(value)`, naming
  `name` and the range."""
  if not check(value):
    raise ConfigError(f"{name} must be {_DESCRIPTIONS[check]}, got "
                      f"{value!r}")
