import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.compression import sparse_inference


@pytest.mark.parametrize("keep", [0.01, 0.2, 1.0])
def test_sparse_matmul_is_the_masked_matmul(keep):
  keys = jax.random.split(jax.random.key(0), 2)
  kernel = jax.random.normal(keys[0], (96, 12))
  mask = cj.topk_mask(jnp.abs(kernel), keep)
  mask = mask.at[:, 3].set(False)  # an output with no kept weight
  x = jax.random.normal(keys[1], (5, 96))
  sparse = sparse_inference.padded_columns(kernel, mask)
  assert sparse.indices.shape[1] == max(1, int(mask.sum(0).max()))
  np.testing.assert_allclose(
      jax.jit(sparse_inference.sparse_matmul)(x, sparse),
      x @ jnp.where(mask, kernel, 0), rtol=1e-5, atol=1e-5)


def test_bad_kernel_is_refused():
  with pytest.raises(ValueError, match="2-D kernel"):
    sparse_inference.padded_columns(jnp.ones((3, 3, 2)), jnp.ones((3, 3, 2)))
