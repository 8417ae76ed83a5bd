"""The `coprune` command: run Co-Prune experiments from config files."""

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys

DESCRIPTION = """\
Cooperative cross-domain pruning (Co-Prune) from two domains' data to a pruned
target model, a report and plots, in one run directory.

A run: pretrain on the source -> fine-tune on the few target labels (full
precision) -> each method the config compares (e.g. Co-Prune through the
alpha stages and alpha = 0, the target pruned alone), from the same start
-> evaluate on target test data. The best epochs are chosen on target
validation data. Interrupted runs continue with --resume.

examples:
  coprune run experiments/configs/offline_default.py --workdir runs/offline
  coprune run experiments/configs/usps_mnistm.py --workdir runs/usps \\
      --data-root ../shared/data --set methods.coprune.target.fusion=magnitude
  coprune report --workdir runs/offline
"""


def _parser():
  parser = argparse.ArgumentParser(
      prog="coprune", description=DESCRIPTION,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest="command", required=True,
                                   metavar="COMMAND")
  run_help = {
      "run": "the whole pipeline, then report.json and plots",
      "pretrain": "only pretrain the source model",
      "finetune": "pretrain, then fine-tune on the target",
      "prune": "the whole pipeline (same as run)",
  }
  run_help["table"] = ("a results table: the config's table.methods x "
                       "keep settings x seeds, cell by cell")
  for name, help_text in run_help.items():
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("config", help="experiment config: a Python file with "
                     "get_config(), e.g. experiments/configs/offline_default.py"
                     " (FILE.py:ARG passes ARG to get_config)")
    sub.add_argument("--workdir", required=True,
                     help="run directory: config, checkpoints, metrics, report")
    sub.add_argument("--resume", action="store_true",
                     help="continue the run in --workdir from its last "
                     "checkpoint (the config must be the same)")
    sub.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE",
                     help="override a config entry, e.g. "
                     "methods.coprune.target.fusion=magnitude "
                     "or seeds=(0,) (repeatable)")
    sub.add_argument("--data-root", default=None,
                     help="offline data folder (default: $COPRUNE_DATA_DIR, or "
                     "the config's data_root)")
    sub.add_argument("--no-progress", action="store_true",
                     help="no progress bars")
    if name == "table":
      sub.add_argument("--results-dir", default=None,
                       help="where the table's files go (default: "
                       "WORKDIR/results)")
      sub.add_argument("--report-only", action="store_true",
                       help="run nothing; write the table of the cells "
                       "finished so far")
    mesh = sub.add_argument_group(
        "devices", "data-parallel training on a jax.sharding mesh")
    mesh.add_argument("--devices", type=int, default=None, metavar="N",
                      help="split every batch over N devices (all processes' "
                      "devices together); batch sizes must divide by N")
    mesh.add_argument("--shard", action="append", default=[], metavar="REGEX",
                      help="also shard the arrays whose state path matches "
                      "(params, their masks and Adam moments; repeatable), "
                      "e.g. 'fc1/kernel'")
    mesh.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                      help="multi-host: the coordinator process's address, "
                      "with --num-processes and --process-id (passed to "
                      "jax.distributed.initialize); each host runs the same "
                      "command and feeds its own slice of every batch")
    mesh.add_argument("--num-processes", type=int, default=None)
    mesh.add_argument("--process-id", type=int, default=None)
  report = commands.add_parser(
      "report", help="redraw the plots of a run and print its summary (of an "
      "unfinished run: its curves and progress so far)")
  report.add_argument("--workdir", required=True)
  return parser


def _placement(args):
  """The mesh of --devices (after joining the other hosts), or None."""
  from coprune_jax import sharding  # pylint: disable=g-import-not-at-top
  from coprune_jax.train.config_files import ConfigError  # pylint: disable=g-import-not-at-top
  multi_host = (args.coordinator, args.num_processes, args.process_id)
  if any(x is not None for x in multi_host):
    import jax  # pylint: disable=g-import-not-at-top
    # CPU processes exchange arrays through gloo (GPU/TPU use their own).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=args.coordinator,
                               num_processes=args.num_processes,
                               process_id=args.process_id)
  try:
    return sharding.make_placement(args.devices, args.shard)
  except ValueError as e:
    raise ConfigError(str(e)) from e


def resume_command(program: str, argv) -> str:
  """The command line that continues an interrupted run of `argv`."""
  argv = list(argv) + ([] if "--resume" in argv else ["--resume"])
  return " ".join([program] + [shlex.quote(a) for a in argv])


@contextlib.contextmanager
def sigterm_as_interrupt():
  """Within: SIGTERM (a preempted machine, `timeout`, `kill`) stops a run
  the way Ctrl-C does, so that it says how to continue."""
  def interrupt(signum, frame):
    del signum, frame
    raise KeyboardInterrupt
  previous = signal.signal(signal.SIGTERM, interrupt)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def labelled_path(text: str) -> tuple[str, str]:
  """An argparse type for "LABEL=PATH" arguments of the experiment scripts
  (the label may hold "=", the path may not)."""
  label, sep, path = text.rpartition("=")
  if not sep or not label or not path:
    raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
  return label, path


def _fail(message: str) -> int:
  print(f"coprune: error: {message}", file=sys.stderr)
  return 2


def _table(table, config, args, placement) -> int:
  """Runs (or, with --report-only, reports) a table; prints its markdown."""
  results_dir = args.results_dir or os.path.join(args.workdir, "results")
  cells = table.run_table(config, args.workdir, results_dir, args.resume,
                          not args.no_progress, report_only=args.report_only,
                          placement=placement)
  if not cells:
    return _fail(f"no finished cells in {args.workdir}")
  base = os.path.join(results_dir, config.table.name)
  with open(base + ".md") as f:
    print(f.read())
  written = [base + suffix for suffix in
             (".md", ".csv", "_seeds.csv", "_paired.csv", ".png")
             if os.path.exists(base + suffix)]
  print("written:", ", ".join(written))
  return 0


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  args = _parser().parse_args(argv)
  # Imported here so that --help answers at once.
  from coprune_jax import extras  # pylint: disable=g-import-not-at-top
  try:
    from coprune_jax.train import config_files  # pylint: disable=g-import-not-at-top
    from coprune_jax.train import plots  # pylint: disable=g-import-not-at-top
    from coprune_jax.train import report as report_lib  # pylint: disable=g-import-not-at-top
    from coprune_jax.train import run  # pylint: disable=g-import-not-at-top
    from coprune_jax.train import table  # pylint: disable=g-import-not-at-top
    from coprune_jax.train.metrics_log import read_records  # pylint: disable=g-import-not-at-top
  except ImportError as e:  # the core install, without the pipeline's extra
    return _fail(str(extras.missing(e.name or str(e), "experiments",
                                    f"coprune {args.command}")))

  if args.command == "report":
    path = os.path.join(args.workdir, "report.json")
    metrics = os.path.join(args.workdir, "metrics.jsonl")
    if not os.path.isfile(path) and not os.path.isfile(metrics):
      return _fail(f"neither report.json nor metrics.jsonl in {args.workdir}: "
                   f"is it a run directory?")
    written = plots.write_plots(args.workdir)
    if os.path.isfile(path):
      with open(path) as f:
        print("\n".join(report_lib.summary_lines(json.load(f))))
    else:
      print(f"{args.workdir} has not finished (no report.json); so far:")
      print("\n".join(report_lib.progress_lines(read_records(metrics))))
    print(f"plots: {', '.join(written)}")
    return 0

  until = {"run": "prune", "prune": "prune", "pretrain": "pretrain",
           "finetune": "finetune", "table": None}[args.command]
  try:
    with sigterm_as_interrupt():
      if args.resume:
        run.require_run(args.workdir)
      placement = _placement(args)
      config = config_files.load_config(args.config)
      config_files.apply_overrides(config, args.overrides)
      data_root = args.data_root or os.environ.get("COPRUNE_DATA_DIR")
      if data_root:
        config.data_root = data_root
      if args.command == "table":
        return _table(table, config, args, placement)
      report = run.train_and_evaluate(
          config, args.workdir, resume=args.resume, until=until,
          progress=not args.no_progress, placement=placement)
  except (config_files.ConfigError, FileNotFoundError,
          extras.MissingExtra) as e:
    return _fail(str(e))
  except KeyboardInterrupt:
    print(f"\ncoprune: interrupted; continue with: "
          f"{resume_command('coprune', argv)}", file=sys.stderr)
    return 130
  if report:
    print("\n".join(report_lib.summary_lines(report)))
    print(f"report: {os.path.join(args.workdir, 'report.json')}, plots: "
          f"{os.path.join(args.workdir, 'plots')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
