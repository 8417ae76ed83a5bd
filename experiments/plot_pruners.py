"""Validation curves and mask churn of bench_pruners.py's runs, per keep setting.

Reads the OUT.json that bench_pruners.py writes and draws, per method, the
validation accuracy after every epoch (mean over seeds, the band spanning
the seeds), so a reader sees whether a method had stopped improving when the
run ended (the epochs before gradual pruning's end step are denser than the
budget, and cannot be selected) and, where the runs recorded it, how many
weights entered each method's mask per epoch (as many left it: the
budget is fixed once reached):

  python experiments/plot_pruners.py experiments/results/pruners_cifar10_subset_h100.json \\
      --out experiments/results/pruners_cifar10_subset_h100.png
"""

import argparse
import json
import sys

import numpy as np

from coprune_jax.train import plots


def validation_accuracy(point) -> float:
  return 100 * point["val"]


def mask_churn(point) -> float:
  """Weights that entered the mask over the epoch, % of those kept."""
  regrown = point.get("regrown")
  return np.nan if regrown is None else 100 * regrown / point["kept"]


def per_epoch(runs: list, value) -> dict:
  """{setting: {method: (seeds, epochs) array of value(point)}}.

  A point without the value (a dense run's churn, or epochs run before
  bench_pruners.py recorded churn) is NaN."""
  curves = {}
  for run in runs:
    by_method = curves.setdefault(run["setting"], {})
    by_method.setdefault(run["method"], []).append(
        [value(point) for point in run["curve"]])
  return {setting: {method: np.array(c, dtype=float)
                    for method, c in by_method.items()}
          for setting, by_method in curves.items()}


def draw(ax, by_method):
  """Mean over seeds per method, the band spanning the seeds."""
  for method, values in by_method.items():
    if np.isnan(values).all():
      continue
    epochs = np.arange(1, values.shape[1] + 1)
    line, = ax.plot(epochs, np.nanmean(values, 0),
                    label=f"{method} ({len(values)})")
    ax.fill_between(epochs, np.nanmin(values, 0), np.nanmax(values, 0),
                    alpha=0.2, color=line.get_color())
  ax.grid(alpha=0.3)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("results", help="bench_pruners.py's OUT.json")
  parser.add_argument("--out", required=True, help="the PNG to write")
  args = parser.parse_args(argv)
  with open(args.results) as f:
    results = json.load(f)
  rows = [(per_epoch(results["runs"], validation_accuracy),
           "validation accuracy (%)")]
  churn = per_epoch(results["runs"], mask_churn)
  if any(np.isfinite(v).any() for c in churn.values() for v in c.values()):
    rows.append((churn, "weights entering the mask\nper epoch (% of kept)"))
  settings = list(rows[0][0])
  plt = plots.pyplot()
  fig, axes = plt.subplots(len(rows), len(settings),
                           figsize=(5 * len(settings), 3.8 * len(rows)),
                           sharex=True, sharey="row", squeeze=False)
  for row, (curves, label) in zip(axes, rows):
    for ax, setting in zip(row, settings):
      draw(ax, curves[setting])
    row[0].set_ylabel(label)
  for ax, setting in zip(axes[0], settings):
    ax.set_title(f"{setting}% kept")
  for ax in axes[-1]:
    ax.set_xlabel("epoch")
  axes[0][-1].legend(fontsize=8, loc="lower right")
  fig.suptitle(f"{results['device']}, {results['date']}", fontsize=9)
  plots.save_figure(fig, args.out)
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
