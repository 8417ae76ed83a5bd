"""USPS (source) -> MNIST-M (target, 100 labels per class), CIFAR-Net at 1.35%.

Reads the offline data folder (USPS h5 and the MNIST-M test file, split per
class into a training pool and an evaluation half with a fixed seed). USPS
16x16 grey digits are resized to 32x32 and repeated to RGB. CIFAR-Net with 10
classes, the reference's 1.35% per-layer keep ratios (1,580 of 116,704
weights kept), the published alpha list 0.7 -> 0.5 -> 0.3, signed fusion.

  coprune run experiments/configs/usps_mnistm.py --workdir runs/usps_mnistm \\
      --data-root ../shared/data
"""

import ml_collections

import common
from coprune_jax.train import protocol


def get_config():
  c = ml_collections.ConfigDict()
  c.seeds = (0,)
  c.split_seed = 0
  c.data_root = "../shared/data"
  c.checkpoint_every_seconds = 60.0

  c.source = dict(kind="usps_h5", path="{data_root}/digits/usps.h5",
                  val_fraction=0.1,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.target = dict(kind="mnist_m_npz", path="{data_root}/digits/mnist_m_test.npz",
                  test_fraction=0.5, labels_per_class=100, val_per_class=20,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.align = dict(source_drop=(), target_drop=(), source_rename={},
                 target_rename={})
  c.input = dict(image_size=32, channels=3)
  c.model = dict(name="cifar_net", kwargs={})

  c.pretrain = dict(epochs=15, batch_size=128, learning_rate=1e-3)
  c.finetune = dict(epochs=60, batch_size=128, learning_rate=1e-3)
  c.prune = protocol.prune_config(common.CIFAR_NET_KEEP_RATIOS_1_35)
  c.methods = common.methods("coprune", "alpha0")
  c.compare = ("coprune", "alpha0")  # what `coprune run` trains, in order
  return c
