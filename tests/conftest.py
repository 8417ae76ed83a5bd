"""Fixtures shared by the whole suite."""

import gc
import os

import jax
import pytest

from tests.trees import dict_params, linen_params, nnx_params


def pytest_configure(config):
  """The default run (`-m "not slow"`) compiles without LLVM's optimisations.

  Its time is mostly XLA compiling hundreds of small programs, not running
  them: about 20% less on 2 CPU cores. The slow tests train for minutes,
  where unoptimised code runs 1.5-2x slower, so they keep the default. Set
  before the backend starts; a level the caller chose is kept.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if (config.getoption("markexpr") == "not slow"
      and "xla_backend_optimization_level" not in flags):
    os.environ["XLA_FLAGS"] = (
        flags + " --xla_backend_optimization_level=0").strip()


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
  """Drops each module's compiled programs after it: they would otherwise
  pile up over the suite (several GB on CPU)."""
  yield
  jax.clear_caches()
  gc.collect()


@pytest.fixture(params=["linen", "nnx", "dict"])
def any_params(request):
  return {"linen": linen_params, "nnx": nnx_params, "dict": dict_params}[
      request.param]()
