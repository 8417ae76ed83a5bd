"""Domains from TensorFlow Datasets, the primary source of named datasets."""

from typing import Optional

import numpy as np

from coprune_jax import extras
from coprune_jax.data.domain import Domain

# name -> (train split, test split); STL-10: labelled splits only.
KNOWN_DATASETS = {
    "cifar10": ("train", "test"),
    "stl10": ("train", "test"),
    "mnist": ("train", "test"),
    "svhn_cropped": ("train", "test"),
}


def _tfds():
  return extras.require("tensorflow_datasets", "tfds", "the tfds data kind")


def _as_arrays(dataset, batch_size=1024):
  tfds = _tfds()
  images, labels = [], []
  for batch in tfds.as_numpy(dataset.batch(batch_size)):
    images.append(batch["image"])
    labels.append(batch["label"])
  return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def load_tfds(name: str, data_dir: Optional[str] = None,
              download: bool = True) -> Domain:
  """Loads a labelled image dataset by TFDS name into memory.

  On a machine with internet TFDS downloads and prepares the data into
  `data_dir` on first use, as `tfds.load` does.
  """
  if name not in KNOWN_DATASETS:
    raise ValueError(f"unknown TFDS dataset {name!r}; known: "
                     f"{sorted(KNOWN_DATASETS)}")
  tfds = _tfds()
  train_split, test_split = KNOWN_DATASETS[name]
  builder = tfds.builder(name, data_dir=data_dir)
  if download:
    builder.download_and_prepare()
  label_names = tuple(builder.info.features["label"].names)
  x_train, y_train = _as_arrays(builder.as_dataset(split=train_split,
                                                   shuffle_files=False))
  x_test, y_test = _as_arrays(builder.as_dataset(split=test_split,
                                                 shuffle_files=False))
  return Domain(name, x_train, y_train, x_test, y_test, label_names)
