"""Issue 4's table on USPS -> MNIST-M: every method at 1.35% and 10.4% kept.

The experiment of `usps_mnistm.py` (CIFAR-Net, 100 target labels per class)
with 3 seeds; each method starts from the same fine-tuned target of its seed.

  python experiments/run_table.py experiments/configs/table_usps_mnistm.py \\
      --workdir runs/table_usps_mnistm --data-root ../shared/data
"""

import os

import common
from coprune_jax.train import config_files


def get_config():
  c = config_files.load_config(
      os.path.join(os.path.dirname(__file__), "usps_mnistm.py"))
  c.seeds = (0, 1, 2)
  c.methods = common.METHODS
  c.table = dict(name="usps_mnistm", methods=common.ALL_METHODS,
                 keep_settings=common.CIFAR_NET_TABLE_SETTINGS)
  return c
