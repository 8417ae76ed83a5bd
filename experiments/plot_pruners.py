"""Validation curves of bench_pruners.py's runs, one panel per keep setting.

Reads the OUT.json that bench_pruners.py writes and draws, per method, the
validation accuracy after every epoch (mean over seeds, the band spanning
the seeds), so a reader sees whether a method had stopped improving when the
run ended (the epochs before gradual pruning's end step are denser than the
budget, and cannot be selected):

  python experiments/plot_pruners.py experiments/results/pruners_cifar10_subset_h100.json \\
      --out experiments/results/pruners_cifar10_subset_h100.png
"""

import argparse
import json
import sys

import numpy as np

from coprune_jax.train import plots


def validation_curves(runs: list) -> dict:
  """{setting: {method: (seeds, epochs) array of validation accuracy (%)}}."""
  curves = {}
  for run in runs:
    by_method = curves.setdefault(run["setting"], {})
    by_method.setdefault(run["method"], []).append(
        [100 * point["val"] for point in run["curve"]])
  return {setting: {method: np.array(c) for method, c in by_method.items()}
          for setting, by_method in curves.items()}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("results", help="bench_pruners.py's OUT.json")
  parser.add_argument("--out", required=True, help="the PNG to write")
  args = parser.parse_args(argv)
  with open(args.results) as f:
    results = json.load(f)
  curves = validation_curves(results["runs"])
  plt = plots.pyplot()
  fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.8),
                           sharey=True, squeeze=False)
  for ax, (setting, by_method) in zip(axes[0], curves.items()):
    for method, accuracy in by_method.items():
      epochs = np.arange(1, accuracy.shape[1] + 1)
      line, = ax.plot(epochs, accuracy.mean(0),
                      label=f"{method} ({len(accuracy)})")
      ax.fill_between(epochs, accuracy.min(0), accuracy.max(0), alpha=0.2,
                      color=line.get_color())
    ax.set_title(f"{setting}% kept")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel("validation accuracy (%)")
  axes[0][-1].legend(fontsize=8, loc="lower right")
  fig.suptitle(f"{results['device']}, {results['date']}", fontsize=9)
  plots.save_figure(fig, args.out)
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
