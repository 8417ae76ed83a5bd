"""Optional dependencies: the core needs only jax, flax, optax and orbax.

The experiment pipeline and TensorFlow Datasets come as pip extras; using
them without their extra gives one line naming the extra to install.
"""

import importlib


class MissingExtra(ImportError):
  """A feature's optional dependency is not installed."""


def missing(module: str, extra: str, feature: str) -> MissingExtra:
  return MissingExtra(f"{feature} needs {module.split('.')[0]}, which is not "
                      f"installed: pip install 'coprune-jax[{extra}]'")


def require(module: str, extra: str, feature: str):
  """Imports `module`, or raises MissingExtra naming the pip extra."""
  try:
    return importlib.import_module(module)
  except ImportError as e:
    raise missing(module, extra, feature) from e
