"""Channel groups: what removing one channel touches, across layers.

Removing output channel c of a layer removes slice c of its kernel's output
axis, of its bias and of the BatchNorm that follows (the *producers*, zeroed
in the masked model), and the matching input slice of every layer that
reads the channel (the *consumers*). Where layers are added (a residual
stream), all of them produce the same channels and form one group. After a
flatten, a Dense kernel reads each channel once per spatial position: its
input axis holds `repeat` blocks of the group's channels (NHWC flatten,
channel fastest).

Paths name leaves of the Flax variables dict, {"params": ..., "batch_stats":
...}, e.g. "params/conv1/kernel", "batch_stats/stage1_block1/bn1/mean".
"""

import dataclasses
from typing import Any, Optional

import numpy as np

from coprune_jax.core import tree_paths

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Slice:
  path: str  # a leaf of the variables dict
  axis: int  # the axis that indexes the group's channels
  repeat: int = 1  # consumers after a flatten: blocks of channels on `axis`

  def indices(self, kept: np.ndarray, size: int) -> np.ndarray:
    """Positions on `axis` of the kept channels (`kept`: channel indices)."""
    return (np.arange(self.repeat)[:, None] * size
            + np.asarray(kept)[None, :]).reshape(-1)


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
  """Channels removed together; `size` of them before pruning."""
  name: str
  size: int
  producers: tuple[Slice, ...]  # zeroed by a channel mask, sliced by surgery
  consumers: tuple[Slice, ...]  # only sliced by surgery
  kernels: tuple[str, ...]  # producer kernels (filters: output axis last)
  gates: tuple[str, ...]  # params that scale the channel's output (Taylor)
  norm_scales: tuple[str, ...] = ()  # BatchNorm scales (network slimming)
  activation: Optional[str] = None  # module whose output carries the channel


def _layer(name: str, norm: Optional[str], stats: bool, use_bias: bool):
  """Producer slices of a layer's output channels, and its gate params."""
  producers = [Slice(f"params/{name}/kernel", -1)]
  if use_bias:
    producers.append(Slice(f"params/{name}/bias", 0))
  if norm is None:
    return producers, producers
  gates = [Slice(f"params/{norm}/scale", 0), Slice(f"params/{norm}/bias", 0)]
  producers += gates
  if stats:
    producers += [Slice(f"batch_stats/{norm}/mean", 0),
                  Slice(f"batch_stats/{norm}/var", 0)]
  return producers, gates


def sequential_groups(variables: PyTree, layers: list[str]) -> list[ChannelGroup]:
  """Groups of a plain conv/dense chain without normalisation (LeNet-5,
  CIFAR-Net, MLP): each layer's output channels, read by the next layer;
  the last layer (the classifier) is not pruned."""
  shapes = {n: np.shape(x) for n, x in tree_paths.named_leaves(variables)}
  missing = [n for n in layers if f"params/{n}/kernel" not in shapes]
  if missing:
    raise ValueError(f"the variables have no 'params/{missing[0]}/kernel'")
  groups = []
  for name, reader in zip(layers[:-1], layers[1:]):
    size = shapes[f"params/{name}/kernel"][-1]
    reader_inputs = shapes[f"params/{reader}/kernel"][-2]
    if reader_inputs % size:
      raise ValueError(f"'{reader}' reads {reader_inputs} inputs, not a "
                       f"multiple of {name}'s {size} channels")
    producers, gates = _layer(name, None, False, True)
    groups.append(ChannelGroup(
        name=name, size=size, producers=tuple(producers),
        consumers=(Slice(f"params/{reader}/kernel", -2,
                         reader_inputs // size),),
        kernels=(f"params/{name}/kernel",), gates=tuple(s.path for s in gates),
        activation=name))
  return groups


def resnet18_groups(variables: PyTree) -> list[ChannelGroup]:
  """ResNet-18 (`models.ResNet18`): each block's inner channels (conv1 ->
  bn1 -> conv2), and per stage the residual stream, produced by the stem
  (stage 1) or the first block's shortcut (later stages) and by every
  block's conv2/bn2, read by the next blocks, shortcuts and the classifier."""
  names = {n for n, _ in tree_paths.named_leaves(variables)}
  shapes = {n: np.shape(x) for n, x in tree_paths.named_leaves(variables)}
  if "params/stem_conv/kernel" not in names:
    raise ValueError("not the variables of models.ResNet18: no "
                     "'params/stem_conv/kernel'")
  stats = any(n.startswith("batch_stats/") for n in names)
  groups = []
  for stage in range(1, 5):
    stream_producers, stream_gates, stream_kernels, scales = [], [], [], []
    blocks = [f"stage{stage}_block{b}" for b in (1, 2)]
    first = blocks[0]
    if stage == 1:
      head = [("stem_conv", "stem_bn")]
    else:
      head = [(f"{first}/shortcut_conv", f"{first}/shortcut_bn")]
    for block in blocks:
      inner, inner_gates = _layer(f"{block}/conv1", f"{block}/bn1", stats,
                                  False)
      groups.append(ChannelGroup(
          name=f"{block}/inner", size=shapes[f"params/{block}/conv1/kernel"][-1],
          producers=tuple(inner),
          consumers=(Slice(f"params/{block}/conv2/kernel", -2),),
          kernels=(f"params/{block}/conv1/kernel",),
          gates=tuple(s.path for s in inner_gates),
          norm_scales=(f"params/{block}/bn1/scale",),
          activation=f"{block}/bn1"))
      head.append((f"{block}/conv2", f"{block}/bn2"))
    for conv, norm in head:
      producers, gates = _layer(conv, norm, stats, False)
      stream_producers += producers
      stream_gates += [s.path for s in gates]
      stream_kernels.append(f"params/{conv}/kernel")
      scales.append(f"params/{norm}/scale")
    # Readers: block 2 (and in stage 1 block 1, after the stem), then the
    # next stage's first block and shortcut, or the classifier.
    readers = [f"{blocks[1]}/conv1"] + ([f"{first}/conv1"] if stage == 1
                                        else [])
    if stage < 4:
      readers += [f"stage{stage + 1}_block1/conv1",
                  f"stage{stage + 1}_block1/shortcut_conv"]
    else:
      readers.append("fc")
    stream_consumers = [Slice(f"params/{r}/kernel", -2) for r in readers]
    size = shapes[stream_kernels[0]][-1]
    missing = [s.path for s in stream_producers + stream_consumers
               if s.path not in names]
    if missing:
      raise ValueError(f"not a models.ResNet18 tree: no {missing[0]}")
    groups.append(ChannelGroup(
        name=f"stage{stage}/stream", size=size,
        producers=tuple(stream_producers), consumers=tuple(stream_consumers),
        kernels=tuple(stream_kernels), gates=tuple(stream_gates),
        norm_scales=tuple(scales), activation=blocks[-1]))
  return groups
