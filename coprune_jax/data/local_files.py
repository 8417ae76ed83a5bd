"""Domains from local files: our .npz format and the offline datasets' files.

The .npz format: `x_train`, `y_train`, `x_test`, `y_test` and `label_names`
(an array of strings). Images are uint8 NHWC; feature vectors float (N, D);
labels integers in [0, len(label_names)). The CIFAR-10 file of the offline
data folder (`cifar10/cifar10_jpeg.npz`) is already in this format.
"""

import os

import numpy as np

from coprune_jax.data.domain import Domain

DIGIT_NAMES = tuple(str(d) for d in range(10))
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test", "label_names")


def _require_file(path: str) -> None:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no such file: {path}")


def save_npz(path: str, domain: Domain) -> None:
  np.savez_compressed(path, x_train=domain.x_train, y_train=domain.y_train,
                      x_test=domain.x_test, y_test=domain.y_test,
                      label_names=np.array(domain.label_names))


def load_npz(path: str, name: str = None) -> Domain:
  """Reads a domain in the documented .npz format."""
  _require_file(path)
  with np.load(path, allow_pickle=False) as data:
    missing = [k for k in NPZ_KEYS if k not in data.files]
    if missing:
      raise ValueError(f"{path} lacks the arrays {missing}; a domain .npz "
                       f"holds {list(NPZ_KEYS)}")
    arrays = {k: data[k] for k in NPZ_KEYS}
  return Domain(
      name or os.path.splitext(os.path.basename(path))[0],
      x_train=arrays["x_train"], y_train=arrays["y_train"].astype(np.int64),
      x_test=arrays["x_test"], y_test=arrays["y_test"].astype(np.int64),
      label_names=tuple(str(n) for n in arrays["label_names"]))


def load_usps_h5(path: str) -> Domain:
  """USPS digits: HDF5 groups train/test with data (N, 256) in [0, 1]."""
  _require_file(path)
  import h5py  # pylint: disable=g-import-not-at-top
  splits = {}
  with h5py.File(path, "r") as f:
    for split in ("train", "test"):
      pixels = np.asarray(f[split]["data"], np.float32).reshape(-1, 16, 16, 1)
      splits[f"x_{split}"] = np.round(pixels * 255).clip(0, 255).astype(np.uint8)
      splits[f"y_{split}"] = np.asarray(f[split]["target"], np.int64)
  return Domain("usps", label_names=DIGIT_NAMES, **splits)


def split_test_only(name, images, labels, label_names, test_fraction, seed):
  """Splits a dataset that has one split into train and test, per class."""
  rng = np.random.default_rng(seed)
  train, test = [], []
  for c in range(len(label_names)):
    idx = rng.permutation(np.flatnonzero(labels == c))
    num_test = int(round(len(idx) * test_fraction))
    test.append(idx[:num_test])
    train.append(idx[num_test:])
  train, test = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
  return Domain(name, images[train], labels[train], images[test], labels[test],
                tuple(label_names))


def load_mnist_m_test(path: str, test_fraction: float = 0.5,
                      split_seed: int = 0) -> Domain:
  """MNIST-M from its test file alone, split per class with a fixed seed."""
  _require_file(path)
  with np.load(path) as data:
    images, labels = data["x_test"], data["y_test"].astype(np.int64)
  return split_test_only("mnist_m", images, labels, DIGIT_NAMES, test_fraction,
                         split_seed)
