"""Experiment configs: Python files with `get_config()`, plus overrides."""

import ast
import importlib.util
import json
import os

import ml_collections


class ConfigError(ValueError):
  """A config that cannot run: unknown key, wrong type, bad value."""


def load_config(path: str) -> ml_collections.ConfigDict:
  if not os.path.isfile(path):
    raise ConfigError(f"config file not found: {path}")
  spec = importlib.util.spec_from_file_location("experiment_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{path} defines no get_config()")
  config = module.get_config()
  config.config_file = os.path.abspath(path)
  return config


def _parse_value(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text  # a bare string such as magnitude


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> None:
  """Applies "a.b=value" overrides; values are Python literals or strings."""
  for override in overrides:
    if "=" not in override:
      raise ConfigError(f"override {override!r} is not of the form key=value")
    key, text = override.split("=", 1)
    *parents, leaf = key.strip().split(".")
    node = config
    for part in parents:
      if part not in node:
        raise ConfigError(f"unknown config key {key!r}")
      node = node[part]
    if leaf not in node:
      raise ConfigError(f"unknown config key {key!r}")
    value = _parse_value(text)
    try:
      node[leaf] = value
    except TypeError as e:
      raise ConfigError(f"bad value for {key!r}: {e}") from None


def to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), sort_keys=True, indent=1, default=str)
