"""Builds a domain from a config entry naming where its data comes from."""

import os

from coprune_jax.data import digits
from coprune_jax.data import local_files
from coprune_jax.data import tfds_loader
from coprune_jax.data.domain import Domain

def _path(spec, data_root):
  path = spec["path"].format(data_root=data_root)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"{spec['kind']} file not found: {path} (set --data-root or the "
        f"COPRUNE_DATA_DIR environment variable to the offline data folder)")
  return path


# kind -> (required fields, load(spec, data_root) -> Domain). A new data
# source is a loader and a line here.
KINDS = {
    "tfds": (("name",), lambda spec, root: tfds_loader.load_tfds(
        spec["name"], spec.get("data_dir") or None)),
    "npz": (("path",), lambda spec, root: local_files.load_npz(
        _path(spec, root), spec.get("name"))),
    "usps_h5": (("path",), lambda spec, root: local_files.load_usps_h5(
        _path(spec, root))),
    "mnist_m_npz": (("path",), lambda spec, root: local_files.load_mnist_m_test(
        _path(spec, root), spec.get("test_fraction", 0.5))),
    "printed_digits": (("num_train", "num_test"),
                       lambda spec, root: digits.printed_digits_domain(
                           spec["num_train"], spec["num_test"],
                           spec.get("seed", 0), spec.get("image_size", 28))),
    "sklearn_digits": ((), lambda spec, root: digits.sklearn_digits_domain(
        spec.get("test_fraction", 0.4))),
}


def load_domain(spec, data_root: str) -> Domain:
  """spec: a mapping with `kind` and the kind's own fields.

  kinds: tfds (name, data_dir), npz (path), usps_h5 (path), mnist_m_npz
  (path, test_fraction), printed_digits (num_train, num_test, seed,
  image_size), sklearn_digits (test_fraction). Paths may use {data_root}.
  """
  kind = spec["kind"]
  if kind not in KINDS:
    raise ValueError(f"unknown domain kind {kind!r}; known: {list(KINDS)}")
  required, load = KINDS[kind]
  for field in required:
    if field not in spec:
      raise ValueError(f"domain kind {kind!r} needs the field {field!r}")
  return load(spec, data_root)
