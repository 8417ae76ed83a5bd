"""Fixtures shared by the whole suite."""

import gc
import os

# The suite's time is mostly XLA compiling hundreds of small programs, not
# running them: without LLVM's optimisations it takes about 40% less on 2
# CPU cores, and nothing the tests check depends on how fast code runs.
# Set before the backend starts; a level the caller chose is kept.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_backend_optimization_level=0").strip()

import jax  # pylint: disable=g-import-not-at-top
import pytest

from tests.trees import dict_params, linen_params, nnx_params


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
