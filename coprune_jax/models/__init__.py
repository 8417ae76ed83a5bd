"""Flax models used in the paper's experiments, by name."""

from coprune_jax.models.cifar_net import CifarNet
from coprune_jax.models.classifier import Classifier
from coprune_jax.models.lenet import LeNet5
from coprune_jax.models.lenet import Mlp
from coprune_jax.models.resnet import ResNet18

MODELS = {"cifar_net": CifarNet, "lenet5": LeNet5, "mlp": Mlp,
          "resnet18": ResNet18}


def check_model_name(name: str) -> None:
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")


def make_model(name: str, num_classes: int, **kwargs):
  check_model_name(name)
  return MODELS[name](num_classes=num_classes, **kwargs)
