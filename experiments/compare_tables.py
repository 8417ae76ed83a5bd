"""Paired gaps between two tables run on the same seeds, e.g. the released
code's protocol against ours (a protocol is a config, not a method, so the
two cannot share one table).

Reads the per-seed CSVs that run_table.py writes (<table>_seeds.csv); for
every method of table A at one keep setting, its per-seed test accuracy
minus table B's for the same method and for each of B's `--against`
methods, on the seeds both have:

  python experiments/compare_tables.py --setting 1.35 --against alpha0 dns \\
      --out experiments/results/reference_vs_ours_mnist_usps_10 \\
      "released protocol=experiments/results/A_seeds.csv" \\
      "ours=experiments/results/B_seeds.csv"

Writes OUT.md and prints it. Pairing holds only where the seeds share their
source model and data split (both tables' runs from the same pretraining).
"""

import argparse
import os
import sys

import numpy as np

from coprune_jax import cli
from coprune_jax.train import config_files
from coprune_jax.train import table_report

# The labels of the methods in results files: the configs' method catalogue.
LABELS = config_files.load_module(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "configs", "common.py"),
    "common").labels()


def method_label(method: str) -> str:
  return LABELS.get(method, method)


def paired_gaps(a: dict, b: dict, setting: str, method: str,
                other: str) -> dict:
  """A's `method` minus B's `other` at `setting` (points), per seed of both."""
  seeds = sorted(s for (st, m, s) in a if st == setting and m == method
                 and (setting, other, s) in b)
  gaps = np.array([a[(setting, method, s)] - b[(setting, other, s)]
                   for s in seeds])
  return {"seeds": seeds, "gaps": gaps}


def comparisons(a: dict, b: dict, setting: str, against) -> list:
  """[(A's method, B's method, paired_gaps)] for every method of A against
  itself and each of `against` in B, where some seed has both."""
  rows = []
  for method in dict.fromkeys(m for (st, m, _) in a if st == setting):
    for other in dict.fromkeys((method,) + tuple(against)):
      row = paired_gaps(a, b, setting, method, other)
      if row["seeds"]:
        rows.append((method, other, row))
  return rows


def markdown(label_a: str, label_b: str, rows: list, setting: str) -> str:
  label = method_label
  lines = [f"{label_a} minus {label_b}, test accuracy at {setting} kept, "
           "percentage points: per seed, mean +- std, seeds ahead.", "",
           f"| {label_a} | {label_b} | per seed | mean +- std | ahead |",
           "|---|---|---|---|---|"]
  for method, other, row in rows:
    g = row["gaps"]
    per_seed = ", ".join(f"{s}: {x:+.2f}" for s, x in zip(row["seeds"], g))
    std = g.std(ddof=1) if g.size > 1 else 0.0
    lines.append(f"| {label(method)} | {label(other)} | {per_seed} | "
                 f"{g.mean():+.2f} +- {std:.2f} | "
                 f"{int((g > 0).sum())}/{g.size} |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("tables", nargs=2, metavar="LABEL=SEEDS_CSV",
                      type=cli.labelled_path)
  parser.add_argument("--setting", default="1.35")
  parser.add_argument("--against", nargs="*", default=["alpha0", "dns"],
                      help="B's methods every A method is also paired with")
  parser.add_argument("--out", required=True, help="writes OUT.md")
  args = parser.parse_args(argv)
  parsed = []
  for label, path in args.tables:
    try:
      parsed.append((label, table_report.read_seeds(path)))
    except (OSError, KeyError, ValueError) as e:
      print(f"compare_tables: {path}: {e}", file=sys.stderr)
      return 2
  (label_a, a), (label_b, b) = parsed
  rows = comparisons(a, b, args.setting, args.against)
  if not rows:
    print(f"compare_tables: no seed in both tables at {args.setting}",
          file=sys.stderr)
    return 2
  text = markdown(label_a, label_b, rows, args.setting)
  with open(args.out + ".md", "w") as f:
    f.write(text)
  print(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
