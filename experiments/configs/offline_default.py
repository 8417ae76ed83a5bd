"""Offline default: printed digits (source) -> scikit-learn digits (target).

No download: the source is rendered from matplotlib's fonts, the target is
scikit-learn's 1,797 handwritten digits with 20 labels per class. LeNet-5 at
28x28, 30% of conv1 and 5% of every other kernel kept (5.1% overall), 3 seeds,
Co-Prune beside alpha = 0.

  coprune run experiments/configs/offline_default.py --workdir runs/offline_default
"""

import ml_collections

import common
from coprune_jax.train import protocol


def get_config():
  c = ml_collections.ConfigDict()
  c.seeds = (0, 1, 2)
  c.split_seed = 0  # fixes which target examples are labelled
  c.data_root = "../shared/data"
  c.checkpoint_every_seconds = 20.0  # and at the end of every phase

  c.source = dict(kind="printed_digits", num_train=10000, num_test=2000,
                  seed=0, image_size=28, val_fraction=0.05,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.target = dict(kind="sklearn_digits", test_fraction=0.4,
                  labels_per_class=20, val_per_class=10,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.align = dict(source_drop=(), target_drop=(), source_rename={},
                 target_rename={})
  c.input = dict(image_size=28, channels=1)
  c.model = dict(name="lenet5", kwargs={})

  c.pretrain = dict(epochs=3, batch_size=128, learning_rate=1e-3)
  # Batches of 20: ten steps per epoch over the 200 labelled target images.
  c.finetune = dict(epochs=30, batch_size=20, learning_rate=1e-3)
  c.prune = protocol.prune_config(
      [("conv1/kernel", 0.3), (".*", 0.05)],  # (regex, keep ratio) rules
      batch_size=20, max_epochs_per_stage=30)
  # Co-Prune beside alpha = 0, the target pruned alone from the same start.
  c.methods = common.methods("coprune", "alpha0")
  c.compare = ("coprune", "alpha0")  # what `coprune run` trains, in order
  return c
