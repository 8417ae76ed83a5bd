"""Issue 4's table on the offline default (printed -> handwritten digits).

LeNet-5, every method at 5% and 1.2% kept (conv1 keeps 30% in both), 3 seeds.
`run_table.py --quick` runs this table with small budgets as a smoke test.

  python experiments/run_table.py experiments/configs/table_offline.py \\
      --workdir runs/table_offline
"""

import os

import common
from coprune_jax.train import config_files


def get_config():
  c = config_files.load_config(
      os.path.join(os.path.dirname(__file__), "offline_default.py"))
  c.methods = common.METHODS
  c.table = dict(
      name="offline",
      methods=common.ALL_METHODS,
      keep_settings=[("5", [("conv1/kernel", 0.3), (".*", 0.05)]),
                     # At 1% the output layer would keep 8 weights for 10
                     # classes; like the paper's patterns, it stays denser.
                     ("1.2", [("conv1/kernel", 0.3), ("fc3/kernel", 0.1),
                              (".*", 0.01)])])
  return c
