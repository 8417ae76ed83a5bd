"""The Pallas counting pass gives exact masks and lowers to Triton."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coprune_jax.core import pallas_count
from coprune_jax.core import topk
from tests.core import per_layer_topk
from tests.core.test_topk import assert_masks_equal
from tests.core.test_topk import enable_x64
from tests.core.test_topk import random_groups_with_planted_ties

# A JAX whose Pallas lacks the kernel's API selects masks with XLA's count
# instead (tested in test_topk); the kernel itself cannot run there.
pytestmark = pytest.mark.skipif(
    bool(pallas_count.missing_api()),
    reason=f"this JAX's Pallas lacks {pallas_count.missing_api()}")


# Interpreted here (on a GPU bench_masks.py checks it compiled). Rows of 64
# keep the interpreter's loop over rows short; 8-bit digits (255
# candidates) walk each row in chunks of 16 keys.
# Blocks of 4 rows: the layout pads the buffer to whole blocks.
@pytest.mark.slow  # ~25 s on 2 CPU cores
@pytest.mark.parametrize("seed,digit_bits,rows_per_program", [
    (3, 4, 1), (4, 1, 1), (5, 8, 1), (6, 2, 4)])
def test_masks_equal_the_per_layer_path(seed, digit_bits, rows_per_program):
  groups, counts = random_groups_with_planted_ties(seed)
  expected = per_layer_topk.top_count_masks(groups, counts)
  count = functools.partial(pallas_count.count_at_or_above,
                            rows_per_program=rows_per_program)
  got = jax.jit(lambda g: topk._select(  # pylint: disable=protected-access
      g, counts, digit_bits, 64, count, row_multiple=rows_per_program))(groups)
  assert_masks_equal(got, expected)


def test_counts_equal_xla_counts():
  rng = np.random.default_rng(0)
  keys = jnp.asarray(rng.integers(0, 2**32, (4, 64), dtype=np.uint32))
  candidates = jnp.asarray(np.sort(rng.integers(0, 2**32, (4, 3),
                                                dtype=np.uint32)))
  np.testing.assert_array_equal(
      pallas_count.count_at_or_above(keys, candidates),
      topk.count_at_or_above(keys, candidates))


@pytest.mark.parametrize("num_candidates,wide,rows_per_program", [
    (15, False, 1), (255, False, 1), (3, True, 1), (3, False, 8)])
def test_lowers_to_a_triton_kernel_for_cuda(num_candidates, wide,
                                            rows_per_program):
  # No GPU needed: lowering catches ops that Triton cannot take (and JAX's
  # default GPU backend, Mosaic GPU, refuses these blocks). Wide: the keys
  # of float64 scores, with x64 on.
  key_type = jnp.uint64 if wide else jnp.uint32
  with enable_x64(wide):
    keys = jax.ShapeDtypeStruct((16, 1024), key_type)
    candidates = jax.ShapeDtypeStruct((16, num_candidates), key_type)
    count = lambda k, c: pallas_count.count_at_or_above(
        k, c, interpret=False, rows_per_program=rows_per_program)
    lowered = jax.jit(count).trace(keys, candidates).lower(
        lowering_platforms=("cuda",))
  assert "xla.gpu.triton" in lowered.as_text()


@pytest.mark.parametrize("form,triton", [("pallas", True), ("xla", False)])
def test_gpu_selection_counts_with_the_chosen_form(monkeypatch, form, triton):
  monkeypatch.setattr(topk, "GPU_COUNT_FORM", form)
  monkeypatch.setattr(topk, "GPU_DIGIT_BITS", 8)
  groups = [[jax.ShapeDtypeStruct((300,), jnp.float32)],
            [jax.ShapeDtypeStruct((5, 7), jnp.float32)]]
  counts = jax.ShapeDtypeStruct((2,), jnp.int32)
  # A new function each time: traces are cached per function, and the
  # switch is read when tracing.
  select = lambda g, c: topk._gpu_select(g, c)  # pylint: disable=protected-access
  lowered = jax.jit(select).trace(groups, counts).lower(
      lowering_platforms=("cuda",))
  assert ("xla.gpu.triton" in lowered.as_text()) == triton


def test_rows_that_do_not_fill_blocks_are_refused():
  keys = jnp.zeros((6, 64), jnp.uint32)
  with pytest.raises(ValueError, match="blocks of 4"):
    pallas_count.count_at_or_above(keys, jnp.ones((6, 3), jnp.uint32),
                                   rows_per_program=4)


def test_a_jax_without_the_kernels_pallas_api_counts_with_xla(monkeypatch):
  # E.g. an older JAX, whose Triton parameters are TritonCompilerParams.
  # The CUDA branch is traced on every backend: it must not fail there.
  monkeypatch.delattr(pallas_count.pl_triton, "CompilerParams", raising=False)
  groups, counts = random_groups_with_planted_ties(9)
  assert_masks_equal(
      jax.jit(topk._gpu_select)(groups, jnp.asarray(counts)),  # pylint: disable=protected-access
      per_layer_topk.top_count_masks(groups, counts))
  lowered = jax.jit(lambda g, c: topk._gpu_select(g, c)).trace(  # pylint: disable=protected-access
      groups, jnp.asarray(counts)).lower(lowering_platforms=("cuda",))
  assert "xla.gpu.triton" not in lowered.as_text()


def test_unknown_gpu_count_form_is_refused(monkeypatch):
  monkeypatch.setattr(topk, "GPU_COUNT_FORM", "cub")
  with pytest.raises(ValueError, match="GPU_COUNT_FORM"):
    topk._gpu_select([[jnp.ones(4)]], jnp.array([2]))  # pylint: disable=protected-access
