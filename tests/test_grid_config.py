"""The cooperation grid's config names the tables committed for its cells."""

import csv
import os

import pytest

from coprune_jax.train import config_files
from tests.pipeline_configs import OFFLINE_CONFIG

CONFIGS = os.path.dirname(OFFLINE_CONFIG)
RESULTS = os.path.join(CONFIGS, "..", "results")
GRID = os.path.join(CONFIGS, "cooperation", "grid.py")
CELLS = config_files.load_module(GRID, "grid").CELLS


@pytest.mark.parametrize("cell", sorted(CELLS), ids=lambda c: ",".join(
    map(str, c)))
def test_each_cell_is_the_committed_table_of_its_seeds_and_methods(cell):
  pair, labels, kept = cell
  config = config_files.load_config(f"{GRID}:{pair},{labels},{kept}")
  with open(os.path.join(RESULTS, f"{config.table.name}_seeds.csv")) as f:
    rows = [r for r in csv.DictReader(f) if r["setting"] != "any"]
  assert {int(r["seed"]) for r in rows} == set(config.seeds)
  assert {r["method"] for r in rows} == set(config.table.methods)
  assert {r["setting"] for r in rows} == {kept}
  assert config.target.labels_per_class == labels
  assert config.prune.patience_steps == 40
  assert set(config.table.methods) <= set(config.methods)


def test_a_cell_outside_the_grid_is_refused():
  with pytest.raises(config_files.ConfigError, match="PAIR,LABELS,KEPT"):
    config_files.load_config(f"{GRID}:mnist_usps,7,1.35")
