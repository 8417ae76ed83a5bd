"""CIFAR-Net: the small conv net of the paper's CIFAR9 -> STL9 experiment."""

import flax.linen as nn
import jax


class CifarNet(nn.Module):
  """conv5x5(32)-maxpool-relu, conv5x5(32)-relu-avgpool, conv5x5(64)-relu-
  avgpool, dense(64)-relu, dense(num_classes).

  Pools are 3x3 stride 2 without padding, so 32x32 inputs shrink 32 -> 15 ->
  7 -> 3 and fc1 sees 3*3*64 = 576 features. With 9 classes it has 116,640
  kernel weights and 201 biases, as in the paper's released code.
  """
  num_classes: int = 9

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    """images: float (N, 32, 32, 3) NHWC -> logits (N, num_classes).

    `train` is unused (no dropout or normalisation); it keeps one signature
    for all models.
    """
    del train
    x = nn.Conv(32, (5, 5), padding=2, name="conv1")(images)
    x = nn.relu(nn.max_pool(x, (3, 3), strides=(2, 2)))
    x = nn.relu(nn.Conv(32, (5, 5), padding=2, name="conv2")(x))
    x = nn.avg_pool(x, (3, 3), strides=(2, 2))
    x = nn.relu(nn.Conv(64, (5, 5), padding=2, name="conv3")(x))
    x = nn.avg_pool(x, (3, 3), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(64, name="fc1")(x))
    return nn.Dense(self.num_classes, name="fc2")(x)
