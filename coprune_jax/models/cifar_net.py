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
  # conv1, conv2, conv3, fc1 widths; narrower ones give the slim networks
  # of the distillation baseline.
  widths: tuple[int, int, int, int] = (32, 32, 64, 64)

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    """images: float (N, 32, 32, 3) NHWC -> logits (N, num_classes).

    `train` is unused (no dropout or normalisation); it keeps one signature
    for all models.
    """
    del train
    conv1, conv2, conv3, fc1 = self.widths
    x = nn.Conv(conv1, (5, 5), padding=2, name="conv1")(images)
    x = nn.relu(nn.max_pool(x, (3, 3), strides=(2, 2)))
    x = nn.relu(nn.Conv(conv2, (5, 5), padding=2, name="conv2")(x))
    x = nn.avg_pool(x, (3, 3), strides=(2, 2))
    x = nn.relu(nn.Conv(conv3, (5, 5), padding=2, name="conv3")(x))
    x = nn.avg_pool(x, (3, 3), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(fc1, name="fc1")(x))
    return nn.Dense(self.num_classes, name="fc2")(x)


def cifar_net_parameter_count(widths, num_classes: int = 9,
                              input_channels: int = 3) -> int:
  """Weights and biases of a CifarNet with these widths (32x32 inputs)."""
  conv1, conv2, conv3, fc1 = widths
  convs = [(input_channels, conv1), (conv1, conv2), (conv2, conv3)]
  count = sum(25 * cin * cout + cout for cin, cout in convs)
  return count + (9 * conv3 * fc1 + fc1) + (fc1 * num_classes + num_classes)
