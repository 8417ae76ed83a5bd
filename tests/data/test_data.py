import os
import sys

import h5py
import numpy as np
import pytest
import tensorflow_datasets as tfds

from coprune_jax import extras
from coprune_jax.data import digits
from coprune_jax.data import domain as domain_lib
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.data import local_files
from coprune_jax.data import tfds_loader

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                 "horse", "ship", "truck")
STL10_NAMES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse",
               "monkey", "ship", "truck")


def tiny_domain(name, label_names, per_class=2, size=4):
  num = per_class * len(label_names)
  labels = np.arange(num) % len(label_names)
  # Pixel value = label, so relabelling can be checked through the images.
  images = np.broadcast_to(labels[:, None, None, None],
                           (num, size, size, 3)).astype(np.uint8)
  return domain_lib.Domain(name, images, labels, images.copy(), labels.copy(),
                           label_names)


def test_cifar9_to_stl9_label_space():
  cifar, stl = tiny_domain("cifar10", CIFAR10_NAMES), tiny_domain("stl10",
                                                                  STL10_NAMES)
  cifar9, stl9 = domain_lib.align_domains(
      cifar, stl, source_drop=["frog"], target_drop=["monkey"],
      target_rename={"car": "automobile"})
  expected = ("airplane", "automobile", "bird", "cat", "deer", "dog", "horse",
              "ship", "truck")
  assert cifar9.label_names == stl9.label_names == expected
  assert len(cifar9.y_train) == len(stl9.y_train) == 18
  # STL's car (old label 2) is now automobile (1); horse (6) stays at 6.
  old_label_of_stl9 = stl9.x_train[:, 0, 0, 0]
  np.testing.assert_array_equal(
      stl9.y_train, [expected.index({"car": "automobile"}.get(
          STL10_NAMES[o], STL10_NAMES[o])) for o in old_label_of_stl9])
  old_label_of_cifar9 = cifar9.x_train[:, 0, 0, 0]
  assert 6 not in old_label_of_cifar9  # frog dropped
  np.testing.assert_array_equal(
      cifar9.y_train,
      [expected.index(CIFAR10_NAMES[o]) for o in old_label_of_cifar9])


def test_inconsistent_label_spaces():
  cifar, stl = tiny_domain("cifar10", CIFAR10_NAMES), tiny_domain("stl10",
                                                                  STL10_NAMES)
  with pytest.raises(ValueError, match="only in stl10: \\['car', 'monkey'\\]"):
    domain_lib.align_domains(cifar, stl, source_drop=["frog"])
  with pytest.raises(ValueError, match="has no class 'lion'"):
    domain_lib.align_domains(cifar, stl, target_drop=["lion"])


@pytest.mark.parametrize("name,shape", [("cifar10", (32, 32, 3)),
                                        ("stl10", (96, 96, 3)),
                                        ("mnist", (28, 28, 1)),
                                        ("svhn_cropped", (32, 32, 3))])
def test_tfds_loading_offline_with_mock_data(name, shape, tmp_path):
  with tfds.testing.mock_data(num_examples=7):
    domain = tfds_loader.load_tfds(name, data_dir=str(tmp_path))
  assert domain.x_train.shape == (7,) + shape and domain.x_train.dtype == np.uint8
  assert len(domain.y_test) == 7 and len(domain.label_names) == 10


def test_tfds_unknown_name():
  with pytest.raises(ValueError, match="unknown TFDS dataset 'imagenet9'"):
    tfds_loader.load_tfds("imagenet9")


def test_npz_round_trip_and_errors(tmp_path):
  domain = tiny_domain("mine", ("a", "b", "c"))
  path = str(tmp_path / "mine.npz")
  local_files.save_npz(path, domain)
  loaded = local_files.load_npz(path)
  assert loaded.label_names == ("a", "b", "c")
  np.testing.assert_array_equal(loaded.x_train, domain.x_train)
  np.savez(str(tmp_path / "bad.npz"), x_train=domain.x_train)
  with pytest.raises(ValueError, match="lacks the arrays"):
    local_files.load_npz(str(tmp_path / "bad.npz"))
  with pytest.raises(FileNotFoundError):
    local_files.load_npz(str(tmp_path / "missing.npz"))


def test_domain_rejects_bad_arrays():
  with pytest.raises(ValueError, match="labels outside"):
    domain_lib.Domain("d", np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 5]),
                      np.zeros((0, 4, 4, 1), np.uint8), np.zeros(0, int),
                      ("a", "b"))
  with pytest.raises(ValueError, match="uint8 NHWC images or float"):
    domain_lib.Domain("d", np.zeros((2, 4), np.int32), np.array([0, 1]),
                      np.zeros((0, 4), np.int32), np.zeros(0, int), ("a", "b"))


def test_usps_and_mnist_m_readers(tmp_path):
  path = str(tmp_path / "usps.h5")
  with h5py.File(path, "w") as f:
    for split, n in (("train", 6), ("test", 4)):
      f.create_group(split)
      f[split]["data"] = np.linspace(0, 1, n * 256, dtype=np.float32).reshape(n, 256)
      f[split]["target"] = np.arange(n, dtype=np.int32) % 10
  usps = local_files.load_usps_h5(path)
  assert usps.x_train.shape == (6, 16, 16, 1) and usps.x_test.shape == (4, 16, 16, 1)
  assert usps.x_train[0, 0, 0, 0] == 0 and usps.x_train[-1, -1, -1, 0] == 255
  assert usps.x_test[-1, -1, -1, 0] == 255
  np.testing.assert_array_equal(usps.y_train, [0, 1, 2, 3, 4, 5])

  labels = np.repeat(np.arange(10), 4)
  np.savez(str(tmp_path / "mnist_m.npz"),
           x_test=np.zeros((40, 32, 32, 3), np.uint8), y_test=labels)
  first = local_files.load_mnist_m_test(str(tmp_path / "mnist_m.npz"), 0.5)
  again = local_files.load_mnist_m_test(str(tmp_path / "mnist_m.npz"), 0.5)
  assert np.bincount(first.y_train).tolist() == [2] * 10
  np.testing.assert_array_equal(first.y_test, again.y_test)


def test_printed_digits_are_deterministic_balanced_and_inked():
  x1, y1 = digits.render_printed_digits(40, seed=3, image_size=16)
  x2, y2 = digits.render_printed_digits(40, seed=3, image_size=16)
  np.testing.assert_array_equal(x1, x2)
  np.testing.assert_array_equal(y1, y2)
  assert x1.shape == (40, 16, 16, 1) and x1.dtype == np.uint8
  assert np.bincount(y1).tolist() == [4] * 10
  assert (x1.reshape(40, -1).max(axis=1) > 100).all()  # every digit drawn
  assert len(digits.font_paths()) >= 10


def test_sklearn_digits_domain():
  domain = digits.sklearn_digits_domain(test_fraction=0.4)
  assert domain.x_train.shape[1:] == (8, 8, 1)
  assert len(domain.y_train) + len(domain.y_test) == 1797
  assert domain.x_train.max() == 255


def test_limited_split_exact_and_disjoint():
  labels = np.repeat(np.arange(3), 10)
  train, val = pipeline.limited_split(labels, 3, 4, 2, seed=0)
  assert np.bincount(labels[train]).tolist() == [4, 4, 4]
  assert np.bincount(labels[val]).tolist() == [2, 2, 2]
  assert not set(train) & set(val)
  np.testing.assert_array_equal(train, pipeline.limited_split(labels, 3, 4, 2, 0)[0])
  with pytest.raises(ValueError, match="class 0 has 10 training examples"):
    pipeline.limited_split(labels, 3, 8, 3, seed=0)


def test_resize_and_channels():
  grey = np.full((2, 8, 8, 1), 200, np.uint8)
  rgb = pipeline.resize_images(grey, 16, 3)
  assert rgb.shape == (2, 16, 16, 3) and (rgb == 200).all()
  back = pipeline.resize_images(rgb, 16, 1)
  assert back.shape == (2, 16, 16, 1) and (back == 200).all()


def test_augmentation_and_normalisation():
  x = np.arange(2 * 6 * 6).reshape(2, 6, 6, 1).astype(np.uint8)
  split = pipeline.Split(x, np.array([0, 1]), np.array([10.0], np.float32),
                         np.array([2.0], np.float32), image_size=4,
                         augmentation=pipeline.Augmentation(pad=1, crop=True,
                                                            flip=True))
  rng = np.random.default_rng(0)
  (images, labels), = list(pipeline.batches(split, 2, rng, train=True))
  assert images.shape == (2, 4, 4, 1)
  # Evaluation: centre crop, normalised, no randomness.
  (images, _), = list(pipeline.batches(split, 2, None, train=False))
  np.testing.assert_allclose(images[0, :, :, 0],
                             (x[0, 1:5, 1:5, 0] - 10.0) / 2.0)


def test_random_batches_are_a_function_of_the_rng():
  x = np.arange(10 * 4 * 4).reshape(10, 4, 4, 1).astype(np.uint8) % 255
  split = pipeline.Split(x, np.arange(10), np.zeros(1, np.float32),
                         np.ones(1, np.float32), 4)
  first = [b[1] for b in pipeline.random_batches(split, 4, 5,
                                                 np.random.default_rng(7))]
  again = [b[1] for b in pipeline.random_batches(split, 4, 5,
                                                 np.random.default_rng(7))]
  np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
  assert sorted(np.concatenate(first)[:8].tolist()) == sorted(set(
      np.concatenate(first)[:8].tolist()))  # no repeats within a pass


def test_feature_vector_domains_are_normalised_per_feature(tmp_path):
  from coprune_jax.train import config_files, experiment_data
  rng = np.random.default_rng(0)
  for name, shift in (("src", 0.0), ("tgt", 3.0)):
    x = rng.normal(shift, 2.0, size=(60, 5)).astype(np.float32)
    y = np.arange(60) % 3
    local_files.save_npz(str(tmp_path / f"{name}.npz"), domain_lib.Domain(
        name, x[:40], y[:40], x[40:], y[40:], ("a", "b", "c")))
  config = config_files.load_config(os.path.join(
      os.path.dirname(__file__), "..", "..", "experiments", "configs",
      "offline_default.py"))
  config_files.apply_overrides(config, [
      f"data_root={tmp_path}", "source.kind=npz", "target.kind=npz",
      "target.labels_per_class=4", "target.val_per_class=2"])
  config.source.path, config.target.path = "{data_root}/src.npz", "{data_root}/tgt.npz"
  data = experiment_data.build_data(config)
  assert data.input_shape == (5,)
  assert len(data.target_train) == 12 and len(data.target_val) == 6
  (x, _), = list(pipeline.batches(data.target_train, 12, np.random.default_rng(0),
                                  train=True))
  np.testing.assert_allclose(np.asarray(x).mean(axis=0), 0.0, atol=1e-5)


def test_tfds_without_its_extra_names_the_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  with pytest.raises(extras.MissingExtra,
                     match=r"pip install 'coprune-jax\[tfds\]'"):
    tfds_loader.load_tfds("mnist")
