"""LeNet-5 (LeCun et al. 1998) and a plain MLP for feature-vector domains."""

from typing import Sequence

import flax.linen as nn
import jax


class LeNet5(nn.Module):
  """conv5x5(6)-relu-maxpool, conv5x5(16)-relu-maxpool, 120, 84, classes.

  conv1 pads by 2, so 28x28 inputs (MNIST-style) give 16x5x5 = 400 features,
  as 32x32 inputs do in the original without padding.
  """
  num_classes: int = 10
  # conv1, conv2, fc1, fc2 widths; narrower ones give slim networks.
  widths: tuple[int, int, int, int] = (6, 16, 120, 84)

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout or normalisation
    conv1, conv2, fc1, fc2 = self.widths
    x = nn.relu(nn.Conv(conv1, (5, 5), padding=2, name="conv1")(images))
    x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = nn.relu(nn.Conv(conv2, (5, 5), padding="VALID", name="conv2")(x))
    x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(fc1, name="fc1")(x))
    x = nn.relu(nn.Dense(fc2, name="fc2")(x))
    return nn.Dense(self.num_classes, name="fc3")(x)


class Mlp(nn.Module):
  """Dense layers with ReLU; inputs (N, D) or flattened images."""
  hidden: Sequence[int] = (256, 128)
  num_classes: int = 10

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout or normalisation
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.hidden):
      x = nn.relu(nn.Dense(width, name=f"fc{i + 1}")(x))
    return nn.Dense(self.num_classes, name=f"fc{len(self.hidden) + 1}")(x)
