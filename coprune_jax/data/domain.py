"""A domain: labelled train and test data with named classes, in memory."""

import dataclasses
from typing import Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Domain:
  """Images as uint8 NHWC, or feature vectors as float (N, D); int labels."""
  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  label_names: tuple[str, ...]

  def __post_init__(self):
    for split in ("train", "test"):
      x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
      if len(x) != len(y):
        raise ValueError(f"domain {self.name}: x_{split} has {len(x)} rows but "
                         f"y_{split} has {len(y)}")
      if x.dtype == np.uint8 and x.ndim != 4:
        raise ValueError(f"domain {self.name}: uint8 images must be NHWC, got "
                         f"shape {x.shape}")
      if x.dtype != np.uint8 and not (np.issubdtype(x.dtype, np.floating)
                                      and x.ndim == 2):
        raise ValueError(f"domain {self.name}: x_{split} must be uint8 NHWC "
                         f"images or float (N, D) features, got {x.dtype} "
                         f"{x.shape}")
      if len(y) and (y.min() < 0 or y.max() >= len(self.label_names)):
        raise ValueError(f"domain {self.name}: y_{split} has labels outside "
                         f"0..{len(self.label_names) - 1}")

  @property
  def is_image(self) -> bool:
    return self.x_train.ndim == 4


def _relabel(domain: Domain, names: Sequence[str], rename: Mapping[str, str],
             drop: Sequence[str], label_space: Sequence[str]) -> Domain:
  new_index = {name: i for i, name in enumerate(label_space)}
  old_to_new = np.array([
      -1 if name in drop else new_index[rename.get(name, name)]
      for name in names])
  splits = {}
  for split in ("train", "test"):
    x, y = getattr(domain, f"x_{split}"), getattr(domain, f"y_{split}")
    y_new = old_to_new[y]
    keep = y_new >= 0
    splits[f"x_{split}"], splits[f"y_{split}"] = x[keep], y_new[keep]
  return Domain(domain.name, label_names=tuple(label_space), **splits)


def align_domains(source: Domain, target: Domain,
                  source_drop: Sequence[str] = (),
                  target_drop: Sequence[str] = (),
                  source_rename: Mapping[str, str] = None,
                  target_rename: Mapping[str, str] = None
                  ) -> tuple[Domain, Domain]:
  """Brings two domains to one label space by class name.

  Classes are first renamed (e.g. STL-10's "car" -> "automobile"), then the
  dropped ones removed (with their examples); the remaining names must be the
  same set in both domains. Labels follow the source's class order.

  Raises:
    ValueError: a dropped or renamed class that does not exist, or label
      spaces that still differ.
  """
  source_rename, target_rename = source_rename or {}, target_rename or {}
  spaces = []
  for domain, drop, rename in ((source, source_drop, source_rename),
                               (target, target_drop, target_rename)):
    unknown = [n for n in list(drop) + list(rename) if n not in domain.label_names]
    if unknown:
      raise ValueError(f"domain {domain.name} has no class {unknown[0]!r}; its "
                       f"classes are {list(domain.label_names)}")
    spaces.append([rename.get(n, n) for n in domain.label_names
                   if n not in drop])
  if sorted(spaces[0]) != sorted(spaces[1]):
    only_source = sorted(set(spaces[0]) - set(spaces[1]))
    only_target = sorted(set(spaces[1]) - set(spaces[0]))
    raise ValueError(
        f"inconsistent label spaces: only in {source.name}: {only_source}, only "
        f"in {target.name}: {only_target}; drop or rename classes to match")
  label_space = spaces[0]
  return (_relabel(source, source.label_names, source_rename, source_drop,
                   label_space),
          _relabel(target, target.label_names, target_rename, target_drop,
                   label_space))
