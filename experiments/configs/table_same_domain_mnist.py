"""Issue 16's control: a perfect source, MNIST (60,000 labelled) -> MNIST.

MNIST -> USPS's experiment with MNIST itself as the target: the target's few
labelled images come from MNIST's train split (which the source also trains
on) and its test set is MNIST's test split. No domain gap, so the source's
magnitudes are as relevant to the target as they can be: if cooperation
does not help here, a domain gap is not what holds it back. The argument
after the colon is the number of target labels per class, optionally with
",reference" (`protocol.pair_table`):

  python experiments/run_table.py experiments/configs/table_same_domain_mnist.py:10 \\
      --workdir runs/table_same_domain_mnist_10 --data-root ../shared/data
"""

import os

from coprune_jax.train import config_files


def get_config(argument="100"):
  c = config_files.load_config(os.path.join(os.path.dirname(__file__),
                                            f"table_mnist_usps.py:{argument}"))
  c.target = dict(kind="npz", path="{data_root}/digits/mnist.npz",
                  labels_per_class=c.target.labels_per_class,
                  val_per_class=c.target.val_per_class,
                  augmentation=dict(pad=2, crop=True, flip=False))
  c.table.name = c.table.name.replace("mnist_usps", "same_domain_mnist")
  return c
