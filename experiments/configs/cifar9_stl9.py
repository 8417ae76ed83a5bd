"""CIFAR9 -> STL9 with CIFAR-Net at 1.35%: the paper's main experiment.

Needs TensorFlow Datasets downloads (cifar10, stl10), so run it on a machine
with internet (or with both prepared in --set source.data_dir=... and
target.data_dir=...). CIFAR9 = CIFAR-10 without frog; STL9 = STL-10's
labelled splits without monkey, car renamed automobile. STL train images are
stored at 36x36 and randomly cropped to 32 (test: resized to 32); CIFAR train:
pad 4, crop 32, flip. The full STL9 train set (500 per class) is the labelled
target data, minus 50 per class held out for validation.

  coprune run experiments/configs/cifar9_stl9.py --workdir runs/cifar9_stl9
"""

import ml_collections

import common
from coprune_jax.train import protocol


def get_config():
  c = ml_collections.ConfigDict()
  c.seeds = (0, 1, 2)
  c.split_seed = 0
  c.data_root = "../shared/data"
  c.checkpoint_every_seconds = 60.0

  c.source = dict(kind="tfds", name="cifar10", data_dir="", val_fraction=0.05,
                  augmentation=dict(pad=4, crop=True, flip=True))
  c.target = dict(kind="tfds", name="stl10", data_dir="", stored_size=36,
                  labels_per_class=450, val_per_class=50,
                  augmentation=dict(pad=0, crop=True, flip=True))
  c.align = dict(source_drop=("frog",), target_drop=("monkey",),
                 source_rename={}, target_rename={"car": "automobile"})
  c.input = dict(image_size=32, channels=3)
  c.model = dict(name="cifar_net", kwargs={})

  c.pretrain = dict(epochs=60, batch_size=128, learning_rate=1e-3)
  c.finetune = dict(epochs=60, batch_size=128, learning_rate=1e-3)
  c.prune = protocol.prune_config(common.CIFAR_NET_KEEP_RATIOS_1_35)
  c.methods = common.methods("coprune", "alpha0")
  c.compare = ("coprune", "alpha0")  # what `coprune run` trains, in order
  return c
