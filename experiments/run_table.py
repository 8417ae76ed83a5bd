"""`coprune table`, plus --quick: a smoke test of every method, offline.

  python experiments/run_table.py experiments/configs/table_usps_mnistm.py \
      --workdir runs/table_usps_mnistm --data-root ../shared/data
  python experiments/run_table.py --quick --workdir runs/table_quick

Every other argument is `coprune table`'s (`coprune table --help`): the
table goes to <results-dir>/<table>.md, .csv (mean +- std over seeds),
<table>_seeds.csv, <table>_paired.csv and <table>.png, by default in
WORKDIR/results. --quick runs every method of the offline table with tiny
budgets (a smoke test of the whole pipeline, not a result).
"""

import os
import sys

from coprune_jax import cli

HERE = os.path.dirname(os.path.abspath(__file__))
OFFLINE_TABLE = os.path.join(HERE, "configs", "table_offline.py")
# Two seeds (the smallest that gives a std), two stages of at most 2 epochs.
QUICK_OVERRIDES = [
    "seeds=(0,1)", "source.num_train=2000", "source.num_test=500",
    "pretrain.epochs=2", "finetune.epochs=10", "prune.alphas=(0.7,0.3)",
    "prune.max_epochs_per_stage=2", "checkpoint_every_seconds=60.0",
    "table.name='offline_quick'",
]


# `coprune table`'s options without a value.
FLAGS = ("--quick", "--resume", "--no-progress", "--report-only", "-h",
         "--help")


def _positionals(argv) -> list[str]:
  """The arguments that are no option and no option's value."""
  found, skip = [], False
  for word in argv:
    if skip:
      skip = False
    elif word in FLAGS:
      pass
    elif word.startswith("-"):
      skip = "=" not in word
    else:
      found.append(word)
  return found


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  quick = "--quick" in argv
  if quick == bool(_positionals(argv)):
    print("run_table: error: give a table config or --quick", file=sys.stderr)
    return 2
  if quick:
    argv = ([OFFLINE_TABLE] + [w for w in argv if w != "--quick"]
            + [w for o in QUICK_OVERRIDES for w in ("--set", o)])
  return cli.main(["table"] + argv)


if __name__ == "__main__":
  sys.exit(main())
