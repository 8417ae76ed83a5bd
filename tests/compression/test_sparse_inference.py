import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.models import Mlp
from coprune_jax.compression import sparse_inference


@pytest.mark.parametrize("keep,groups", [(0.01, 4), (0.2, 1), (0.2, 3),
                                         (1.0, 4), (0.2, 50)])
def test_sparse_matmul_is_the_masked_matmul(keep, groups):
  keys = jax.random.split(jax.random.key(0), 2)
  kernel = jax.random.normal(keys[0], (96, 12))
  mask = cj.topk.topk_mask(jnp.abs(kernel), keep)
  mask = mask.at[:, 3].set(False)  # an output with no kept weight
  x = jax.random.normal(keys[1], (5, 96))
  sparse = sparse_inference.padded_columns(kernel, mask, groups)
  assert len(sparse.indices) == min(groups, 12)
  # Sorted by kept count: the first group holds the longest column.
  assert sparse.indices[0].shape[1] == max(1, int(mask.sum(0).max()))
  np.testing.assert_allclose(
      jax.jit(sparse_inference.sparse_matmul)(x, sparse),
      x @ jnp.where(mask, kernel, 0), rtol=1e-5, atol=1e-5)


def test_bad_kernel_is_refused():
  with pytest.raises(ValueError, match="2-D kernel"):
    sparse_inference.padded_columns(jnp.ones((3, 3, 2)), jnp.ones((3, 3, 2)))


def test_groups_pad_columns_of_similar_counts_together():
  mask = np.zeros((10, 4), bool)
  mask[:8, 2] = True  # kept counts per column: 1, 1, 8, 1
  mask[0, [0, 1, 3]] = True
  sparse = sparse_inference.padded_columns(np.ones((10, 4)), mask, groups=2)
  assert [i.shape for i in sparse.indices] == [(2, 8), (2, 1)]
  np.testing.assert_array_equal(sparse.order, [1, 2, 0, 3])


def test_no_groups_is_refused():
  with pytest.raises(ValueError, match="groups"):
    sparse_inference.padded_columns(jnp.ones((3, 2)), jnp.ones((3, 2)), 0)


def test_sparse_dense_model_is_the_masked_model():
  model = Mlp(hidden=(32, 16), num_classes=4)
  images = jax.random.normal(jax.random.key(1), (3, 6, 6, 1))
  params = model.init(jax.random.key(0), images)["params"]
  # fc1 and fc3 pruned and computed sparse; fc2 unmasked, it stays dense.
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(
      params, [("fc2/kernel", 1.0), (".*kernel", 0.05)]))
  masks["fc2"]["kernel"] = None
  apply = sparse_inference.sparse_dense_model(model, params, masks)
  expected = model.apply({"params": cj.apply_masks(params, masks)}, images)
  np.testing.assert_allclose(jax.jit(apply)(images), expected, rtol=1e-5,
                             atol=1e-5)
