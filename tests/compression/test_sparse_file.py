import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import coprune_jax as cj
from coprune_jax.compression import sparse_file
from coprune_jax.core import tree_paths
from tests.trees import dict_params


def masked(params, masks):
  return cj.apply_masks(params, masks, straight_through=False)


def assert_same_named_arrays(got, want):
  got, want = tree_paths.named_leaves(got), tree_paths.named_leaves(want)
  assert [n for n, _ in got] == [n for n, _ in want]
  for (name, a), (_, b) in zip(got, want):
    assert np.asarray(a).dtype == np.asarray(b).dtype, name
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)


def test_csr_of_a_hand_made_matrix():
  weight = np.array([[1., 2., 3.], [4., 5., 6.]], np.float32)
  mask = np.array([[False, True, False], [True, False, True]])
  parts = sparse_file.encode_csr(weight, mask)
  np.testing.assert_array_equal(parts["row_pointers"], [0, 1, 3])
  np.testing.assert_array_equal(parts["columns"], [1, 0, 2])
  np.testing.assert_array_equal(parts["values"], [2., 4., 6.])
  assert parts["columns"].dtype == np.uint8
  np.testing.assert_array_equal(sparse_file.decode_csr(parts, (2, 3)),
                                weight * mask)


def test_bitmask_of_a_hand_made_matrix():
  weight = np.arange(1., 10., dtype=np.float32).reshape(3, 3)
  mask = np.eye(3, dtype=bool)
  parts = sparse_file.encode_bitmask(weight, mask)
  # 9 bits in 2 bytes: 100 010 001 then padding.
  np.testing.assert_array_equal(parts["bits"], [0b10001000, 0b10000000])
  np.testing.assert_array_equal(parts["values"], [1., 5., 9.])
  np.testing.assert_array_equal(sparse_file.decode_bitmask(parts, (3, 3)),
                                weight * mask)


@pytest.mark.parametrize("encoding", sparse_file.ENCODINGS)
def test_file_restores_the_exact_masked_params_of_any_tree(
    tmp_path, any_params, encoding):
  ratios = cj.keep_ratio_tree(any_params, 0.3)
  masks = cj.magnitude_masks(any_params, ratios)
  path = str(tmp_path / "model.npz")
  sizes = sparse_file.save_pruned(path, any_params, masks, encoding)
  restored, restored_masks = sparse_file.load_pruned(path, like=any_params,
                                                     with_masks=True)
  assert jax.tree.structure(restored) == jax.tree.structure(any_params)
  assert_same_named_arrays(restored, masked(any_params, masks))
  assert_same_named_arrays(restored_masks, masks)
  assert [n for n, _ in tree_paths.named_leaves(restored_masks, True)] == [
      n for n, _ in tree_paths.named_leaves(masks, True)]
  assert sizes["kept_weights"] == sum(cj.kept_counts(masks).values())


@pytest.mark.parametrize("encoding", sparse_file.ENCODINGS)
def test_conv_kernels_of_many_shapes_round_trip(tmp_path, encoding):
  rng = np.random.default_rng(0)
  for shape in [(1, 1), (7,), (3, 3, 2, 300), (5, 5, 3, 32), (300, 2)]:
    params = {"w": rng.normal(size=shape).astype(np.float32)}
    masks = {"w": rng.random(shape) < 0.1}
    path = str(tmp_path / f"{shape}.npz")
    sparse_file.save_pruned(path, params, masks, encoding)
    np.testing.assert_array_equal(sparse_file.load_pruned(path)["w"],
                                  params["w"] * masks["w"])


def test_without_a_template_the_file_gives_linen_style_nested_dicts(tmp_path):
  params = {"conv1": {"kernel": jnp.ones((3, 3, 1, 4)), "bias": jnp.ones(4)}}
  masks = {"conv1": {"kernel": jnp.zeros((3, 3, 1, 4), bool), "bias": None}}
  path = str(tmp_path / "m.npz")
  sparse_file.save_pruned(path, params, masks)
  restored = sparse_file.load_pruned(path)
  assert restored["conv1"]["kernel"].sum() == 0
  np.testing.assert_array_equal(restored["conv1"]["bias"], np.ones(4))


def test_bfloat16_values_survive(tmp_path):
  params = {"w": jnp.arange(12.0, dtype=jnp.bfloat16).reshape(3, 4)}
  masks = {"w": params["w"] > 5}
  path = str(tmp_path / "bf16.npz")
  sparse_file.save_pruned(path, params, masks, "csr")
  assert_same_named_arrays(sparse_file.load_pruned(path),
                           masked(params, masks))


def test_a_sparse_file_is_much_smaller_than_the_dense_one(tmp_path):
  params = {"fc": {"kernel": jnp.ones((1000, 100))}}
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.01))
  for encoding in sparse_file.ENCODINGS:
    sizes = sparse_file.save_pruned(str(tmp_path / f"{encoding}.npz"),
                                    params, masks, encoding)
    assert sizes["dense_float32_bytes"] == 400_000
    # bitmask: 12,500 bytes of bits + 4,000 of values; csr: 1,000 values of
    # 4 + 1 bytes plus 1,001 row pointers of 2 bytes.
    assert sizes["bytes"] < 20_000, (encoding, sizes)


def test_bad_input_is_refused(tmp_path):
  params = dict_params()
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.5))
  with pytest.raises(ValueError, match="encoding"):
    sparse_file.save_pruned(str(tmp_path / "a.npz"), params, masks, "zip")
  wrong = {**masks, "conv1": {"kernel": None, "bias": None}}
  wrong.pop("fc")
  with pytest.raises(ValueError, match="fc"):
    sparse_file.save_pruned(str(tmp_path / "b.npz"), params, wrong)
  with pytest.raises(ValueError, match="^masks is None"):
    sparse_file.save_pruned(str(tmp_path / "d.npz"), params, None)
  assert not (tmp_path / "d.npz").exists()
  path = str(tmp_path / "c.npz")
  sparse_file.save_pruned(path, params, masks)
  other = {**params, "extra": jnp.ones((2, 2))}
  with pytest.raises(ValueError, match="extra"):
    sparse_file.load_pruned(path, like=other)


def test_masks_and_pruned_params_round_trip_through_orbax(tmp_path,
                                                          any_params):
  masks = cj.magnitude_masks(any_params, cj.keep_ratio_tree(any_params, 0.3))
  state = {"params": masked(any_params, masks), "masks": masks}
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(tmp_path / "ckpt", state)
  checkpointer.wait_until_finished()
  restored = checkpointer.restore(tmp_path / "ckpt", state)
  assert jax.tree.structure(restored, is_leaf=lambda x: x is None) == (
      jax.tree.structure(state, is_leaf=lambda x: x is None))
  assert_same_named_arrays(restored, state)


@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
def test_n_of_m_files_restore_the_masked_params_and_are_smallest(tmp_path):
  keys = jax.random.split(jax.random.key(3), 2)
  params = {"conv": {"kernel": jax.random.normal(keys[0], (3, 3, 8, 6)),
                     "bias": jnp.ones(6)},
            "fc": {"kernel": jax.random.normal(keys[1], (64, 10))}}
  masks = jax.tree.map(
      lambda w: cj.pruners.n_of_m_mask(w, 2, 4) if w.ndim > 1 else None,
      params)
  sizes = {}
  for encoding in ("2:4", "csr"):
    path = str(tmp_path / f"{encoding.replace(':', '_')}.npz")
    sizes[encoding] = sparse_file.save_pruned(path, params, masks, encoding)
    restored, restored_masks = sparse_file.load_pruned(path, like=params,
                                                       with_masks=True)
    assert_same_named_arrays(restored, masked(params, masks))
    assert_same_named_arrays(restored_masks, masks)
  assert sizes["2:4"]["bytes"] < sizes["csr"]["bytes"]
  # A mask of another pattern, and names that are no encoding.
  magnitude = cj.magnitude_masks(params, cj.keep_ratio_tree(params, 0.5))
  with pytest.raises(ValueError, match="'conv/kernel': mask is not a 2:4"):
    sparse_file.save_pruned(str(tmp_path / "x.npz"), params, magnitude, "2:4")
  for bad in ("4:2", "two:four", "0:4"):
    with pytest.raises(ValueError, match="'N:M'"):
      sparse_file.save_pruned(str(tmp_path / "y.npz"), params, masks, bad)
  assert not (tmp_path / "x.npz").exists() and not (tmp_path / "y.npz").exists()
