"""Runs a results table (methods x keep ratios x seeds) and writes it.

  python experiments/run_table.py experiments/configs/table_usps_mnistm.py \
      --workdir runs/table_usps_mnistm --data-root ../shared/data
  python experiments/run_table.py --quick --workdir runs/table_quick

Writes <results-dir>/<table>.md, .csv (mean +- std over seeds),
<table>_seeds.csv, <table>_paired.csv (each method minus Co-Prune on the same
seed) and <table>.png (accuracy vs kept fraction per method).
An interrupted table continues with --resume; finished cells are not redone;
--report-only writes the table of the cells finished so far.
--quick runs every method of the offline table with tiny budgets (a smoke
test of the whole pipeline, not a result) and writes into the workdir.
"""

import argparse
import os
import sys

from coprune_jax import cli
from coprune_jax import extras
from coprune_jax import sharding
from coprune_jax.train import config_files

HERE = os.path.dirname(os.path.abspath(__file__))
OFFLINE_TABLE = os.path.join(HERE, "configs", "table_offline.py")
# Two seeds (the smallest that gives a std), two stages of at most 2 epochs.
QUICK_OVERRIDES = [
    "seeds=(0,1)", "source.num_train=2000", "source.num_test=500",
    "pretrain.epochs=2", "finetune.epochs=10", "prune.alphas=(0.7,0.3)",
    "prune.max_epochs_per_stage=2", "checkpoint_every_seconds=60.0",
    "table.name='offline_quick'",
]


def _parser():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("config", nargs="?", help="table config (a Python file "
                      "with get_config() and a `table` section)")
  parser.add_argument("--workdir", required=True,
                      help="run directory: checkpoints, cells, metrics")
  parser.add_argument("--results-dir", default=None,
                      help="where the table goes (default: experiments/results,"
                      " or <workdir>/results with --quick)")
  parser.add_argument("--quick", action="store_true",
                      help="the offline table with tiny budgets")
  parser.add_argument("--resume", action="store_true",
                      help="continue the table in --workdir")
  parser.add_argument("--report-only", action="store_true",
                      help="run nothing; write the table of the cells "
                      "finished so far")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a config entry, e.g. "
                      "seeds=(0,) or table.methods=('coprune','lwc')")
  parser.add_argument("--data-root", default=None,
                      help="offline data folder (default: $COPRUNE_DATA_DIR, or "
                      "the config's data_root)")
  parser.add_argument("--no-progress", action="store_true")
  parser.add_argument("--devices", type=int, default=None, metavar="N",
                      help="split every batch over N devices (see coprune "
                      "run --help)")
  parser.add_argument("--shard", action="append", default=[], metavar="REGEX",
                      help="with --devices: also shard matching arrays")
  return parser


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  args = _parser().parse_args(argv)
  from coprune_jax.train import run  # pylint: disable=g-import-not-at-top
  from coprune_jax.train import table  # pylint: disable=g-import-not-at-top
  try:
    with cli.sigterm_as_interrupt():
      if args.resume:
        run.require_run(args.workdir)
      if args.quick == bool(args.config):
        raise config_files.ConfigError("give a table config or --quick")
      config = config_files.load_config(args.config or OFFLINE_TABLE)
      config_files.apply_overrides(
          config, (QUICK_OVERRIDES if args.quick else []) + args.overrides)
      data_root = args.data_root or os.environ.get("COPRUNE_DATA_DIR")
      if data_root:
        config.data_root = data_root
      results_dir = args.results_dir or (
          os.path.join(args.workdir, "results") if args.quick
          else os.path.join(HERE, "results"))
      try:
        placement = sharding.make_placement(args.devices, args.shard)
      except ValueError as e:
        raise config_files.ConfigError(str(e)) from e
      cells = table.run_table(config, args.workdir, results_dir, args.resume,
                              not args.no_progress,
                              report_only=args.report_only, placement=placement)
      if not cells:
        raise config_files.ConfigError(f"no finished cells in {args.workdir}")
  except (config_files.ConfigError, FileNotFoundError,
          extras.MissingExtra) as e:
    print(f"run_table: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("\nrun_table: interrupted; continue with: " + cli.resume_command(
        "python experiments/run_table.py", argv), file=sys.stderr)
    return 130
  base = os.path.join(results_dir, config.table.name)
  with open(base + ".md") as f:
    print(f.read())
  written = [base + suffix for suffix in
             (".md", ".csv", "_seeds.csv", "_paired.csv", ".png")
             if os.path.exists(base + suffix)]
  print("written:", ", ".join(written))
  return 0


if __name__ == "__main__":
  sys.exit(main())
