"""ResNet-18 (He et al. 2016) with a CIFAR or an ImageNet stem."""

import flax.linen as nn
import jax


class BasicBlock(nn.Module):
  features: int
  strides: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    norm = lambda name: nn.BatchNorm(use_running_average=not train, name=name)
    y = nn.Conv(self.features, (3, 3), self.strides, padding=1, use_bias=False,
                name="conv1")(x)
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

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    if self.stem == "cifar":
      x = nn.Conv(self.width, (3, 3), padding=1, use_bias=False,
                  name="stem_conv")(images)
    elif self.stem == "imagenet":
      x = nn.Conv(self.width, (7, 7), 2, padding=3, use_bias=False,
                  name="stem_conv")(images)
    else:
      raise ValueError(f"stem must be 'cifar' or 'imagenet', got {self.stem!r}")
    x = nn.relu(nn.BatchNorm(use_running_average=not train, name="stem_bn")(x))
    if self.stem == "imagenet":
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for stage in range(4):
      features = self.width * 2**stage
      for block in range(2):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(features, strides, name=f"stage{stage + 1}_block{block + 1}")(
            x, train)
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, name="fc")(x)
