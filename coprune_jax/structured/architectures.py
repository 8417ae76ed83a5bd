"""Channel groups and shrunk-model settings of the library's models."""

import dataclasses
from typing import Any, Callable

from coprune_jax.structured import groups as groups_lib

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Architecture:
  groups: Callable[[PyTree], list]  # variables -> [ChannelGroup]
  # {group name: kept channels} -> the model's keyword arguments
  widths: Callable[[dict], dict]


def _sequential(layers):
  return lambda variables: groups_lib.sequential_groups(variables, layers)


ARCHITECTURES = {
    "cifar_net": Architecture(
        _sequential(["conv1", "conv2", "conv3", "fc1", "fc2"]),
        lambda n: {"widths": (n["conv1"], n["conv2"], n["conv3"], n["fc1"])}),
    "lenet5": Architecture(
        _sequential(["conv1", "conv2", "fc1", "fc2", "fc3"]),
        lambda n: {"widths": (n["conv1"], n["conv2"], n["fc1"], n["fc2"])}),
    "resnet18": Architecture(
        groups_lib.resnet18_groups,
        lambda n: {"stage_widths": tuple(n[f"stage{s}/stream"]
                                         for s in range(1, 5)),
                   "inner_widths": tuple(n[f"stage{s}_block{b}/inner"]
                                         for s in range(1, 5)
                                         for b in (1, 2))}),
}


def architecture(model_name: str) -> Architecture:
  if model_name not in ARCHITECTURES:
    raise ValueError(f"no channel groups for model {model_name!r}; known: "
                     f"{sorted(ARCHITECTURES)}")
  return ARCHITECTURES[model_name]
