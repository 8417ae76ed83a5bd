"""The radix select's counting pass as a Pallas (Triton) kernel for GPUs.

Each pass of `topk`'s select counts, per row of the key buffer, the keys at
or above each candidate digit. XLA makes that one variadic reduction, which
ran at about a sixth of memory bandwidth on an H100.
Here one program per row (or block of rows) compares the row's keys with
every candidate as they stream through, so a pass reads the buffer once.
On an H100 it is the fastest form at 2-bit digits (3 candidates); wider
digits cost more compares than the passes they save. Exact
like every count form; off a GPU it runs interpreted (for tests, not
speed).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pl_triton

# Elements of one (candidates, keys) compare tile: 16 per thread at 8 warps,
# so that wide digits do not spill registers.
TILE = 4096
NUM_WARPS = 8
# Rows of the buffer each program counts. With one row a program (21,800
# programs a pass on the ResNet-18 tree) the 16 passes of 2-bit digits took
# about 2 ms on an H100, where reading the buffer 16 times takes about 0.4:
# each program's latency may be what costs. Blocks of rows are timed by
# `experiments/bench_masks.py --rows-per-program`.
ROWS_PER_PROGRAM = 1


def _count_rows_kernel(keys_ref, candidates_ref, counts_ref, *, chunk: int):
  """A block of rows (or one row, its axis squeezed): keys (..., R),
  candidates (..., W) -> counts (..., W), a (..., W, chunk) compare and a
  reduction over it per chunk of the rows."""
  candidates = candidates_ref[...][..., None]

  def add_chunk(i, counts):
    keys = keys_ref[..., pl.ds(pl.multiple_of(i * chunk, chunk), chunk)]
    # dtype: with x64 enabled a plain sum would widen to int64.
    return counts + jnp.sum(keys[..., None, :] >= candidates, axis=-1,
                            dtype=jnp.int32)

  counts_ref[...] = lax.fori_loop(
      0, keys_ref.shape[-1] // chunk, add_chunk,
      jnp.zeros(candidates_ref.shape, jnp.int32))


def missing_api() -> str:
  """What this JAX's Pallas lacks of what the kernel uses ('' if nothing):
  older versions name Triton's parameters `TritonCompilerParams`."""
  if not hasattr(pl_triton, "CompilerParams"):
    return "jax.experimental.pallas.triton.CompilerParams"
  return ""


def count_at_or_above(keys: jax.Array, candidates: jax.Array,
                      interpret=None,
                      rows_per_program: int = ROWS_PER_PROGRAM) -> jax.Array:
  """(rows, C) counts of each row's keys >= each of its C candidates.

  `keys` (rows, R) and `candidates` (rows, C) unsigned; R a power of two
  (the buffer's rows are), rows a multiple of `rows_per_program` (a power
  of two: `topk`'s layout pads the buffer's rows to it). Candidates are
  padded to a power of two (Triton's block shapes). `interpret=None`
  interprets off a GPU.
  """
  if interpret is None:
    interpret = jax.default_backend() != "gpu"
  rows, row_length = keys.shape
  if rows % rows_per_program:
    raise ValueError(f"{rows} rows do not split into blocks of "
                     f"{rows_per_program}")
  num_candidates = candidates.shape[1]
  width = pl.next_power_of_2(num_candidates)
  chunk = min(row_length, max(1, TILE // (width * rows_per_program)))
  if row_length % chunk:
    raise ValueError(f"rows of {row_length} do not split into chunks of "
                     f"{chunk} keys")
  padded = jnp.pad(candidates, ((0, 0), (0, width - num_candidates)))
  # One row a program: its axis squeezed, the kernel measured first.
  block_rows = None if rows_per_program == 1 else rows_per_program
  counts = pl.pallas_call(
      functools.partial(_count_rows_kernel, chunk=chunk),
      out_shape=jax.ShapeDtypeStruct((rows, width), jnp.int32),
      grid=(rows // rows_per_program,),
      in_specs=[pl.BlockSpec((block_rows, row_length), lambda i: (i, 0)),
                pl.BlockSpec((block_rows, width), lambda i: (i, 0))],
      out_specs=pl.BlockSpec((block_rows, width), lambda i: (i, 0)),
      # Triton, not Mosaic GPU (JAX's GPU default), whose copies into
      # shared memory take at most 256 elements a dimension.
      compiler_params=pl_triton.CompilerParams(num_warps=NUM_WARPS),
      interpret=interpret)(keys, padded)
  return counts[:, :num_candidates]
