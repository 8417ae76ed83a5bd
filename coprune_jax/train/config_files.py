"""Experiment configs: Python files with `get_config()`, plus overrides."""

import ast
import contextlib
import importlib.util
import json
import numbers
import os
import sys

import ml_collections


class ConfigError(ValueError):
  """A run that cannot start: unknown key, wrong type, bad value, or a run
  directory or checkpoint it cannot use."""


@contextlib.contextmanager
def _importable_siblings(folder: str):
  """Within: a config may import the modules beside it (`import common`);
  after, they are forgotten, so that another folder's config that imports
  a module of the same name gets its own."""
  before = set(sys.modules)
  sys.path.insert(0, folder)
  try:
    yield
  finally:
    sys.path.remove(folder)
    for name in set(sys.modules) - before:
      file = getattr(sys.modules[name], "__file__", None) or ""
      if os.path.dirname(os.path.abspath(file)) == folder:
        del sys.modules[name]


def load_module(path: str, name: str = "experiment_config"):
  """The Python file at `path` as a module; it may import the modules
  beside it."""
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  with _importable_siblings(os.path.dirname(os.path.abspath(path))):
    spec.loader.exec_module(module)
  return module


def load_config(path: str) -> ml_collections.ConfigDict:
  """`get_config()` of a config file; `file.py:ARG` calls `get_config(ARG)`
  (as ml_collections' config flags do), e.g. a label budget."""
  argument = None
  if not os.path.isfile(path) and ":" in path:
    path, argument = path.rsplit(":", 1)
  if not os.path.isfile(path):
    raise ConfigError(f"config file not found: {path}")
  module = load_module(path)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{path} defines no get_config()")
  try:
    config = (module.get_config() if argument is None
              else module.get_config(argument))
  except (TypeError, ValueError) as e:
    raise ConfigError(f"{path}:{argument}: {e}") from e
  config.config_file = os.path.abspath(path) + (
      "" if argument is None else f":{argument}")
  return config


def _parse_value(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text  # a bare string such as magnitude


def keep_ratio_rules(value) -> list:
  """Keep ratios as config rules: a list of (regex, keep ratio) pairs.

  Also accepts one number (every prunable parameter) and a dict
  {regex: keep ratio}, the forms `cj.keep_ratio_tree` takes.

  >>> keep_ratio_rules(0.1), keep_ratio_rules({"fc.*": 0.5, ".*": 0.1})
  ([('.*', 0.1)], [('fc.*', 0.5), ('.*', 0.1)])
  """
  if isinstance(value, numbers.Real) and not isinstance(value, bool):
    return [(".*", value)]
  if isinstance(value, dict):
    return list(value.items())
  if isinstance(value, (list, tuple)):
    return [tuple(rule) if isinstance(rule, (list, tuple)) else rule
            for rule in value]
  raise ConfigError(f"keep ratios must be a number, a dict {{regex: keep "
                    f"ratio}} or a list of (regex, keep ratio) pairs, got "
                    f"{value!r}")


# Overrides whose command-line forms differ from the stored one.
_NORMALIZED = {"prune.keep_ratios": keep_ratio_rules}


def _type_name(value) -> str:
  names = {int: "an integer", float: "a number", str: "a string",
           bool: "True or False", list: "a list", tuple: "a tuple"}
  return names.get(type(value), type(value).__name__)


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> None:
  """Applies "a.b=value" overrides; values are Python literals or strings.

  Keys must exist, except inside `methods` (`methods.NAME.option`,
  `methods.NAME.target.option`), where an override may add an option, a
  pruner's keyword argument or a whole new method: they are checked where
  the method is built.
  """
  for override in overrides:
    if "=" not in override:
      raise ConfigError(f"override {override!r} is not of the form key=value")
    key, text = override.split("=", 1)
    *parents, leaf = key.strip().split(".")
    in_method = len(parents) >= 2 and parents[0] == "methods"
    node = config
    for part in parents:
      if part not in node and in_method and node is not config:
        node[part] = ml_collections.ConfigDict()
      if part not in node:
        raise ConfigError(f"unknown config key {key!r}")
      node = node[part]
    if leaf not in node and not in_method:
      raise ConfigError(f"unknown config key {key!r}")
    value = _parse_value(text)
    if key.strip() in _NORMALIZED:
      value = _NORMALIZED[key.strip()](value)
    try:
      node[leaf] = value
    except TypeError:
      raise ConfigError(f"bad value for {key!r}: expected "
                        f"{_type_name(node[leaf])}, got {text.strip()!r}"
                        ) from None
    # Recorded, so that results files name them beside the config file.
    config.overrides = list(config.get("overrides", [])) + [override]


def _leaves(tree: dict, prefix: str = "") -> dict:
  if not isinstance(tree, dict) or not tree:
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_leaves(value, f"{prefix}{key}" if not prefix
                        else f"{prefix}.{key}"))
  return flat


def differences(old: dict, new: dict) -> list[str]:
  """The leaf entries two JSON configs disagree on, as "key: old -> new".

  >>> differences({"prune": {"target_start": "finetuned", "alphas": [0.7]}},
  ...             {"prune": {"target_start": "source", "alphas": [0.7]}})
  ["prune.target_start: 'finetuned' -> 'source'"]
  """
  old, new = _leaves(old), _leaves(new)
  show = lambda tree, key: repr(tree[key]) if key in tree else "(absent)"
  return [f"{key}: {show(old, key)} -> {show(new, key)}"
          for key in sorted(set(old) | set(new))
          if key not in old or key not in new or old[key] != new[key]]


def to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), sort_keys=True, indent=1, default=str)
