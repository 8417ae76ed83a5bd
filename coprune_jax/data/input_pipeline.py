"""From a domain's arrays to normalised, augmented batches for training.

Images stay uint8 in host memory; a batch is augmented and normalised on the
device by one jitted function (pad, random crop, flip, per-channel
normalisation), so the input pipeline costs little next to a training step.
"""

import dataclasses
import functools
from typing import Iterator, Optional

import jax
import jax.numpy as jnp
import numpy as np


def resize_images(images: np.ndarray, size: int, channels: int) -> np.ndarray:
  """uint8 NHWC -> uint8 (N, size, size, channels), bilinear, grey <-> RGB."""
  if images.shape[-1] not in (1, 3) or channels not in (1, 3):
    raise ValueError(f"images must have 1 or 3 channels, got "
                     f"{images.shape[-1]} -> {channels}")
  x = images
  if x.shape[1:3] != (size, size):
    resized = []
    for start in range(0, len(x), 4096):  # bounded memory on big sets
      chunk = jnp.asarray(x[start:start + 4096], jnp.float32)
      chunk = jax.image.resize(chunk, (len(chunk), size, size, x.shape[-1]),
                               "bilinear", antialias=True)
      resized.append(np.asarray(jnp.clip(jnp.round(chunk), 0, 255)))
    x = np.concatenate(resized).astype(np.uint8) if resized else np.zeros(
        (0, size, size, x.shape[-1]), np.uint8)
  if x.shape[-1] != channels:
    x = (np.repeat(x, 3, axis=-1) if channels == 3 else
         np.round(x.mean(axis=-1, keepdims=True)).astype(np.uint8))
  return x


def limited_split(labels: np.ndarray, num_classes: int, labels_per_class: int,
                  val_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices of n labelled training and m validation examples per class."""
  rng = np.random.default_rng(seed)
  train, val = [], []
  for c in range(num_classes):
    idx = rng.permutation(np.flatnonzero(labels == c))
    needed = labels_per_class + val_per_class
    if len(idx) < needed:
      raise ValueError(f"class {c} has {len(idx)} training examples, fewer "
                       f"than {labels_per_class} labelled + {val_per_class} "
                       f"validation")
    train.append(idx[:labels_per_class])
    val.append(idx[labels_per_class:needed])
  return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """Training-time augmentation of uint8 images of side `stored_size`.

  Reference settings: CIFAR: pad 4, random crop 32, flip. STL: stored at 36,
  random crop 32, flip. Digits: no flip (a flipped 2 is no digit).
  """
  pad: int = 0
  crop: bool = False
  flip: bool = False


@dataclasses.dataclass(frozen=True)
class Split:
  """Images (uint8, stored_size) or features, labels, and how to batch them."""
  x: np.ndarray
  y: np.ndarray
  mean: np.ndarray  # per channel (images) or per feature, in [0, 255] units
  std: np.ndarray
  image_size: Optional[int] = None  # model input side; None for features
  augmentation: Augmentation = Augmentation()

  def __len__(self):
    return len(self.y)


def channel_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  axes = tuple(range(x.ndim - 1))
  x = x.astype(np.float64)
  return (x.mean(axis=axes).astype(np.float32),
          np.maximum(x.std(axis=axes), 1e-3).astype(np.float32))


@functools.partial(jax.jit, static_argnames=("image_size", "augmentation"))
def _augment_and_normalise(key, images, mean, std, image_size, augmentation):
  x = images.astype(jnp.float32)
  if x.ndim == 4:
    pad = augmentation.pad
    if pad:
      x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    if augmentation.crop:
      key, key_crop = jax.random.split(key)
      max_offset = x.shape[1] - image_size
      offsets = jax.random.randint(key_crop, (x.shape[0], 2), 0, max_offset + 1)
      x = jax.vmap(lambda im, o: jax.lax.dynamic_slice(
          im, (o[0], o[1], 0), (image_size, image_size, im.shape[-1])))(x, offsets)
    elif x.shape[1] != image_size:  # evaluation: centre crop
      start = (x.shape[1] - image_size) // 2
      x = x[:, start:start + image_size, start:start + image_size]
    if augmentation.flip:
      flip = jax.random.bernoulli(key, 0.5, (x.shape[0], 1, 1, 1))
      x = jnp.where(flip, x[:, :, ::-1], x)
  return (x - mean) / std


def _batch(split, idx, rng, train):
  augmentation = split.augmentation if train else Augmentation()
  key = jax.random.key(int(rng.integers(2**31)) if train else 0)
  x = _augment_and_normalise(key, split.x[idx], split.mean, split.std,
                             split.image_size, augmentation)
  return x, jnp.asarray(split.y[idx])


def batches(split: Split, batch_size: int, rng: Optional[np.random.Generator],
            train: bool) -> Iterator[tuple[jax.Array, jax.Array]]:
  """One pass over `split` in batches of `batch_size`.

  With `train`, the order is shuffled by `rng`, the last partial batch is
  dropped (static shapes, one compilation) and images are augmented;
  otherwise every example is visited once, in order, unaugmented.
  """
  n = len(split)
  order = rng.permutation(n) if train else np.arange(n)
  stop = n - n % batch_size if train else n
  for start in range(0, stop, batch_size):
    yield _batch(split, order[start:start + batch_size], rng, train)


def random_batches(split: Split, batch_size: int, num_batches: int,
                   rng: np.random.Generator):
  """`num_batches` augmented training batches, without repeats while possible.

  Used for the source alongside a target epoch: drawing them from an
  epoch-seeded `rng` keeps a resumed run identical to an uninterrupted one.
  """
  n = len(split)
  order = np.concatenate([rng.permutation(n) for _ in range(
      -(-num_batches * batch_size // n))])
  for b in range(num_batches):
    yield _batch(split, order[b * batch_size:(b + 1) * batch_size], rng, True)
