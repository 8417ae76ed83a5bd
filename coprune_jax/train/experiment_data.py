"""The splits of one experiment, built from its config."""

import dataclasses

import numpy as np

from coprune_jax.data import domain as domain_lib
from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.data import sources


@dataclasses.dataclass(frozen=True)
class ExperimentData:
  label_names: tuple[str, ...]
  source_train: pipeline.Split
  source_val: pipeline.Split
  source_test: pipeline.Split
  target_train: pipeline.Split
  target_val: pipeline.Split
  target_test: pipeline.Split

  @property
  def input_shape(self) -> tuple[int, ...]:
    split = self.target_test
    if split.image_size is None:
      return (split.x.shape[-1],)
    return (split.image_size, split.image_size, split.x.shape[-1])


def _splits(x_train, y_train, evaluation_sets, spec, input_cfg):
  """Training split stored for augmentation plus evaluation splits."""
  augmentation = pipeline.Augmentation(**dict(spec.get("augmentation", {})))
  if x_train.ndim == 4:
    size, channels = input_cfg["image_size"], input_cfg["channels"]
    stored = spec.get("stored_size") or size
    x_train = pipeline.resize_images(x_train, stored, channels)
    evaluation_sets = [(pipeline.resize_images(x, size, channels), y)
                       for x, y in evaluation_sets]
    if stored + 2 * augmentation.pad < size or (
        stored + 2 * augmentation.pad > size and not augmentation.crop):
      raise ValueError(f"stored size {stored} with pad {augmentation.pad} "
                       f"cannot give {size}x{size} inputs without a crop")
  else:
    size = None
  mean, std = pipeline.channel_statistics(x_train)
  make = lambda x, y, aug: pipeline.Split(x, y, mean, std, size, aug)
  return [make(x_train, y_train, augmentation)] + [
      make(x, y, pipeline.Augmentation()) for x, y in evaluation_sets]


def build_data(config) -> ExperimentData:
  """Loads, aligns and splits both domains as `config` says.

  Source: its train split minus a `val_fraction` held out for selecting the
  pretrained model; its test split. Target: `labels_per_class` labelled and
  `val_per_class` validation examples per class from its train split (fixed
  `split_seed`), and its test split. Normalisation statistics come from each
  domain's own training images.
  """
  source = sources.load_domain(config.source, config.data_root)
  target = sources.load_domain(config.target, config.data_root)
  align = config.align
  source, target = domain_lib.align_domains(
      source, target, tuple(align.source_drop), tuple(align.target_drop),
      dict(align.source_rename), dict(align.target_rename))
  if source.is_image != target.is_image:
    raise ValueError("source and target must both be images or both features")

  rng = np.random.default_rng(config.split_seed)
  order = rng.permutation(len(source.y_train))
  num_val = int(round(len(order) * config.source.val_fraction))
  val_idx, train_idx = np.sort(order[:num_val]), np.sort(order[num_val:])
  source_splits = _splits(
      source.x_train[train_idx], source.y_train[train_idx],
      [(source.x_train[val_idx], source.y_train[val_idx]),
       (source.x_test, source.y_test)], config.source, config.input)

  num_classes = len(source.label_names)
  train_idx, val_idx = pipeline.limited_split(
      target.y_train, num_classes, config.target.labels_per_class,
      config.target.val_per_class, config.split_seed)
  target_splits = _splits(
      target.x_train[train_idx], target.y_train[train_idx],
      [(target.x_train[val_idx], target.y_train[val_idx]),
       (target.x_test, target.y_test)], config.target, config.input)
  return ExperimentData(source.label_names, *source_splits, *target_splits)
