"""When cooperation helps: every cell of the grid (pairs x labels x kept).

One table per cell: a domain pair (`mnist_usps`, `mnist_mnistm`,
`usps_mnistm`) at a number of target labels per class and a keep setting
(the paper's 1.35% or our 10.4%), CIFAR-Net, first step pruned, the stage
patience and cap at least 40 steps (`prune.patience_steps`), alpha = 0 and
DNS beside `coprune_source10` (and the other methods its committed table
holds). The argument names the cell, PAIR,LABELS,KEPT:

  coprune table experiments/configs/cooperation/grid.py:mnist_usps,5,1.35 \\
      --workdir runs/grid_mnist_usps_5_1.35 --data-root ../shared/data

and likewise for every cell of `CELLS` (its table's name, seeds and methods
as committed in experiments/results/).
"""

import os

from coprune_jax.train import config_files
from coprune_jax.train import protocol

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = {"mnist_usps": "table_mnist_usps.py",
         "mnist_mnistm": "table_mnist_mnistm.py",
         "usps_mnistm": "table_usps_mnistm_labels.py"}
KEEP_SETTINGS = {"1.35": protocol.CIFAR_NET_KEEP_RATIOS_1_35,
                 "10.4": protocol.CIFAR_NET_KEEP_RATIOS_10_4}
SEEDS_CPU = (3, 4, 5)
# The 30-label cells at 1.35% ran on an H100 with seeds 0-2.
SEEDS_H100 = (0, 1, 2)
PAIRED = ("alpha0", "dns", "coprune_source10")


def _cells() -> dict:
  """(pair, labels, kept) -> (seeds, methods, table name)."""
  cells = {}
  for pair in PAIRS:
    cells[(pair, 5, "1.35")] = (
        SEEDS_CPU, ("coprune",) + PAIRED,
        f"table_{pair}_5_p40_pruned_seeds345_cpu")
    cells[(pair, 10, "1.35")] = (
        SEEDS_CPU, ("coprune",) + PAIRED,
        f"table_{pair}_10_p40_pruned_seeds345_cpu")
    h100_name = "usps_mnistm_labels" if pair == "usps_mnistm" else pair
    cells[(pair, 30, "1.35")] = (SEEDS_H100, ("coprune",) + PAIRED,
                                 f"table_{h100_name}_30_p40_pruned")
    cells[(pair, 100, "1.35")] = (
        SEEDS_CPU, PAIRED, f"table_{pair}_100_p40_pruned_seeds345_cpu")
    for labels in (10, 30, 100):
      cells[(pair, labels, "10.4")] = (
          SEEDS_CPU, PAIRED, f"table_{pair}_{labels}_p40_10_4_seeds345_cpu")
  # Two 10-label tables hold more methods than the grid reads.
  cells[("mnist_usps", 10, "1.35")] = (
      SEEDS_CPU, ("coprune", "alpha0", "coprune_matched", "coprune_gradual",
                  "coprune_hysteresis", "dns", "coprune_alpha_val",
                  "coprune_source10"),
      "table_mnist_usps_10_p40_pruned_options_seeds345_cpu")
  seeds, methods, name = cells[("mnist_mnistm", 10, "1.35")]
  cells[("mnist_mnistm", 10, "1.35")] = (seeds, methods + ("alpha1_source10",),
                                         name)
  return cells


CELLS = _cells()


def get_config(argument="mnist_usps,5,1.35"):
  pair, labels, kept = (str(argument).split(",") + ["", "", ""])[:3]
  key = (pair, int(labels) if labels.isdigit() else labels, kept)
  if key not in CELLS:
    raise ValueError(f"expected PAIR,LABELS,KEPT, one of "
                     f"{sorted(','.join(map(str, k)) for k in CELLS)}, got "
                     f"{argument!r}")
  seeds, methods, name = CELLS[key]
  c = config_files.load_config(os.path.join(HERE, "..",
                                            f"{PAIRS[pair]}:{labels}"))
  c.seeds = seeds
  c.prune.patience_steps = 40
  c.table.methods = methods
  c.table.keep_settings = [(kept, KEEP_SETTINGS[kept])]
  c.table.name = name
  return c
