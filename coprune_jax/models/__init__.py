"""Flax models used in the paper's experiments."""

from coprune_jax.models.cifar_net import CifarNet
from coprune_jax.models.resnet import ResNet18
