"""Issue 16: USPS -> MNIST-M at a label budget, beside the two MNIST pairs.

The experiment of `usps_mnistm.py` through `protocol.pair_table`: the
argument is the number of target labels per class, optionally with
",reference" for the released code's protocol:

  python experiments/run_table.py experiments/configs/table_usps_mnistm_labels.py:30 \\
      --workdir runs/table_usps_mnistm_30 --data-root ../shared/data
"""

import os

import common
from coprune_jax.train import config_files


def get_config(argument="100"):
  c = config_files.load_config(
      os.path.join(os.path.dirname(__file__), "usps_mnistm.py"))
  return common.pair_table(c, "usps_mnistm", argument)
