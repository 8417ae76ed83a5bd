"""Issue 16: MNIST (60,000 labelled) -> USPS at a label budget, CIFAR-Net.

A pair whose source is large and transfers well. The argument after the
colon is the number of target labels per class, optionally with
",reference" for the released code's protocol (`protocol.pair_table`):

  python experiments/run_table.py experiments/configs/table_mnist_usps.py:30 \\
      --workdir runs/table_mnist_usps_30 --data-root ../shared/data
  python experiments/run_table.py experiments/configs/table_mnist_usps.py:30,reference \\
      --workdir runs/table_mnist_usps_30_reference --data-root ../shared/data

MNIST's 28x28 and USPS's 16x16 grey digits are resized to 32x32 and
repeated to RGB; USPS's own test split (2,007 images) is the target test set.
"""

import ml_collections

import common
from coprune_jax.train import protocol


def get_config(argument="100"):
  c = ml_collections.ConfigDict()
  c.seeds = (0,)
  c.split_seed = 0
  c.data_root = "../shared/data"
  c.checkpoint_every_seconds = 60.0
  c.source = dict(kind="npz", path="{data_root}/digits/mnist.npz",
                  val_fraction=0.1,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.target = dict(kind="usps_h5", path="{data_root}/digits/usps.h5",
                  labels_per_class=100, val_per_class=20,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.align = dict(source_drop=(), target_drop=(), source_rename={},
                 target_rename={})
  c.input = dict(image_size=32, channels=3)
  c.model = dict(name="cifar_net", kwargs={})
  # 54,000 source training images: 5 epochs are 2,110 steps of batch 128.
  c.pretrain = dict(epochs=5, batch_size=128, learning_rate=1e-3)
  c.finetune = dict(epochs=60, batch_size=128, learning_rate=1e-3)
  c.prune = protocol.prune_config(common.CIFAR_NET_KEEP_RATIOS_1_35)
  return common.pair_table(c, "mnist_usps", argument)
