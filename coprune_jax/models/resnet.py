"""ResNet-18 (He et al. 2016) with a CIFAR or an ImageNet stem."""

from typing import Optional

import flax.linen as nn
import jax


# Running statistics follow the batches at 0.9 as in Flax's ImageNet example:
# at Flax's default 0.99 they lag by ~100 steps, longer than a fine-tuning
# epoch on 10,000 images, so a freshly shrunk model evaluated badly.
BN_MOMENTUM = 0.9


class BasicBlock(nn.Module):
  features: int
  strides: int = 1
  inner_features: Optional[int] = None  # conv1's width; default `features`

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    norm = lambda name: nn.BatchNorm(use_running_average=not train,
                                     momentum=BN_MOMENTUM, name=name)
    y = nn.Conv(self.inner_features or self.features, (3, 3), self.strides,
                padding=1, use_bias=False, name="conv1")(x)
    y = nn.relu(norm("bn1")(y))
    y = nn.Conv(self.features, (3, 3), padding=1, use_bias=False,
                name="conv2")(y)
    y = norm("bn2")(y)
    if self.strides != 1 or x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1, 1), self.strides, use_bias=False,
                  name="shortcut_conv")(x)
      x = norm("shortcut_bn")(x)
    return nn.relu(x + y)


class ResNet18(nn.Module):
  """ResNet-18: 4 stages of 2 basic blocks, 64-128-256-512 channels.

  stem="cifar": 3x3 conv stride 1, no max-pool (32x32 inputs);
  stem="imagenet": 7x7 conv stride 2 and 3x3 max-pool stride 2 (224x224).
  About 11.2M kernel weights with 10 classes at the standard width 64.
  """
  num_classes: int = 10
  stem: str = "cifar"
  width: int = 64  # channels of the first stage; 64 is the standard net
  # Channel-pruned nets (see `coprune_jax.structured`): the residual
  # stream's width per stage and each block's inner width (8 blocks).
  stage_widths: Optional[tuple[int, int, int, int]] = None
  inner_widths: Optional[tuple[int, ...]] = None

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    stage_widths = self.stage_widths or tuple(self.width * 2**s
                                              for s in range(4))
    inner_widths = self.inner_widths or tuple(w for w in stage_widths
                                              for _ in range(2))
    if self.stem == "cifar":
      x = nn.Conv(stage_widths[0], (3, 3), padding=1, use_bias=False,
                  name="stem_conv")(images)
    elif self.stem == "imagenet":
      x = nn.Conv(stage_widths[0], (7, 7), 2, padding=3, use_bias=False,
                  name="stem_conv")(images)
    else:
      raise ValueError(f"stem must be 'cifar' or 'imagenet', got {self.stem!r}")
    x = nn.relu(nn.BatchNorm(use_running_average=not train,
                             momentum=BN_MOMENTUM, name="stem_bn")(x))
    if self.stem == "imagenet":
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for stage in range(4):
      for block in range(2):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(stage_widths[stage], strides,
                       inner_widths[2 * stage + block],
                       name=f"stage{stage + 1}_block{block + 1}")(x, train)
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, name="fc")(x)
