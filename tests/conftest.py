"""Fixtures shared by the whole suite."""

import gc

import jax
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
