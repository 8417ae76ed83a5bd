"""Where the reference's plateau rule would have cut the learning rate.

For every run of a `bench_pruners.py` result, replays the run's epoch
training losses through Co-Prune's plateau control (lr x 0.1 after 3
epochs without improvement; `coprune_jax.core.plateau`) and prints the
epochs after which it would have lowered the rate. A run with no cut is
one that Co-Prune's staged protocol (Adam under the plateau control,
stages ending at lr <= 1e-6) would have trained identically within the
same epochs: its first stage never ends.

  python experiments/plateau_cuts.py experiments/results/pruners_cifar10_subset_h100.json
"""

import argparse
import json
import sys

from coprune_jax.core import plateau


def lr_cuts(losses, patience: int = 3) -> list[int]:
  """Epochs (1-based) after which the plateau rule lowers the rate."""
  state, cuts = plateau.plateau_init(1e-3), []
  for epoch, loss in enumerate(losses, start=1):
    rate = float(state.learning_rate)
    state = plateau.plateau_update(state, loss, patience)
    if float(state.learning_rate) < rate:
      cuts.append(epoch)
  return cuts


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("results", help="a bench_pruners.py JSON")
  parser.add_argument("--methods", nargs="+", default=None,
                      help="only these methods (default: all)")
  args = parser.parse_args(argv)
  with open(args.results) as f:
    runs = json.load(f)["runs"]
  print("| method | setting | seed | lr cuts after epoch |")
  print("|---|---|---|---|")
  for run in runs:
    if args.methods and run["method"] not in args.methods:
      continue
    cuts = lr_cuts([point["loss"] for point in run["curve"]])
    print(f"| {run['method']} | {run['setting']} | {run['seed']} | "
          f"{', '.join(map(str, cuts)) or 'none'} |")
  return 0


if __name__ == "__main__":
  sys.exit(main())
