"""The offline default shrunk to seconds: what the pipeline tests run."""

import os

from coprune_jax.train import config_files

OFFLINE_CONFIG = os.path.join(os.path.dirname(__file__), "..", "experiments",
                              "configs", "offline_default.py")
TINY = [
    "seeds=(0,)", "checkpoint_every_seconds=0.0",
    "source.num_train=300", "source.num_test=60", "source.image_size=8",
    "target.labels_per_class=5", "target.val_per_class=3",
    "input.image_size=8", "model.name=mlp", "model.kwargs={'hidden': (32,)}",
    "pretrain.epochs=2", "pretrain.batch_size=50",
    "finetune.epochs=3", "finetune.batch_size=10",
    "prune.keep_ratios=[('.*', 0.2)]", "prune.alphas=(0.7, 0.3)",
    "prune.max_epochs_per_stage=4", "prune.batch_size=10",
]


def tiny_config(*extra):
  config = config_files.load_config(OFFLINE_CONFIG)
  config_files.apply_overrides(config, TINY + list(extra))
  return config


# The experiments' shared config module: the method catalogue.
COMMON = config_files.load_module(
    os.path.join(os.path.dirname(OFFLINE_CONFIG), "common.py"), "common")
