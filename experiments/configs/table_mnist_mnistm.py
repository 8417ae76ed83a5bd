"""Issue 16: MNIST (60,000 labelled) -> MNIST-M at a label budget, CIFAR-Net.

A pair whose source is large and transfers well. The argument after the
colon is the number of target labels per class, optionally with
",reference" for the released code's protocol (`protocol.pair_table`):

  python experiments/run_table.py experiments/configs/table_mnist_mnistm.py:30 \\
      --workdir runs/table_mnist_mnistm_30 --data-root ../shared/data
  python experiments/run_table.py experiments/configs/table_mnist_mnistm.py:30,reference \\
      --workdir runs/table_mnist_mnistm_30_reference --data-root ../shared/data

MNIST's 28x28 grey digits are resized to 32x32 and repeated to RGB.
MNIST-M exists here only as its test split (MNIST test digits over photo
patches; the source trains on MNIST's train split only): half of it is the
target's labelled pool, half its test set, split per class with a fixed seed.
"""

import os

from coprune_jax.train import config_files


def get_config(argument="100"):
  # MNIST -> USPS's experiment with MNIST-M as the target.
  c = config_files.load_config(os.path.join(os.path.dirname(__file__),
                                            f"table_mnist_usps.py:{argument}"))
  c.target = dict(kind="mnist_m_npz",
                  path="{data_root}/digits/mnist_m_test.npz",
                  test_fraction=0.5,
                  labels_per_class=c.target.labels_per_class,
                  val_per_class=c.target.val_per_class,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.table.name = c.table.name.replace("mnist_usps", "mnist_mnistm")
  return c
