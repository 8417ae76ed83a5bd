"""Per-stage validation curves of pruning phases, from runs' metrics logs.

One panel per phase (e.g. Co-Prune and alpha = 0 of one seed), one line per
run directory that trained it, the stage boundaries marked: where a stage
ended at chance, and whether a later stage ever trained, is read off at a
glance.

  python experiments/plot_stage_curves.py --seed 0 \\
      --phases 1.35/coprune 1.35/alpha0 \\
      --out experiments/results/stage_curves_mnist_usps_30 \\
      "patience 3 epochs=runs/table_mnist_usps_30" \\
      "patience 20 epochs=runs/table_mnist_usps_30_p20"
"""

import argparse
import os
import sys

from coprune_jax import cli
from coprune_jax.train import plots
from coprune_jax.train.metrics_log import read_records, select


def stage_curve(records, phase: str, seed: int) -> dict:
  """Validation accuracy per epoch across stages, where each stage starts
  (0-based epoch index) and its alpha (None for phases without one)."""
  rows = select(records, seed=seed, phase=phase)
  starts, alphas = [], []
  for i, row in enumerate(rows):
    if i == 0 or row["stage"] != rows[i - 1]["stage"]:
      starts.append(i)
      alphas.append(row.get("alpha"))
  return {"val": [r["val_accuracy"] for r in rows], "stage_starts": starts,
          "alphas": alphas}


def plot(path: str, curves: dict, phases, seed: int) -> None:
  plt = plots.pyplot()
  fig, axes = plt.subplots(1, len(phases), figsize=(5.5 * len(phases), 3.8),
                           sharey=True, squeeze=False)
  for ax, phase in zip(axes[0], phases):
    for i, (label, by_phase) in enumerate(curves.items()):
      curve = by_phase.get(phase)
      if curve is None:  # this run did not train the phase
        continue
      colour = f"C{i}"
      ax.plot(range(1, len(curve["val"]) + 1), [100 * v for v in curve["val"]],
              color=colour, label=label)
      for start in curve["stage_starts"][1:]:
        ax.axvline(start + 0.5, color=colour, ls=":", lw=1)
      stage_alphas = ", ".join(f"{a:.2g}" for a in curve["alphas"]
                               if a is not None)
      if stage_alphas:
        ax.plot([], [], " ", label=f"  stages' alphas: {stage_alphas}")
    ax.set(title=f"{phase}, seed {seed}", xlabel="epoch (all stages; dotted: "
           "a new stage)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  axes[0][0].set_ylabel("target validation accuracy (%)")
  plots.save_figure(fig, path)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("runs", nargs="+", metavar="LABEL=WORKDIR",
                      type=cli.labelled_path)
  parser.add_argument("--phases", nargs="+", required=True)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", required=True, help="writes OUT.png")
  args = parser.parse_args(argv)
  curves = {}
  for label, workdir in args.runs:
    records = read_records(os.path.join(workdir, "metrics.jsonl"))
    curves[label] = {}
    for phase in args.phases:
      curve = stage_curve(records, phase, args.seed)
      if not curve["val"]:
        print(f"{label}, {phase}: no epochs of seed {args.seed} in {workdir}")
        continue
      curves[label][phase] = curve
      print(f"{label}, {phase}: {len(curve['val'])} epochs, stages start at "
            f"epochs {[s + 1 for s in curve['stage_starts']]}, best val "
            f"{100 * max(curve['val']):.1f}%")
  missing = [p for p in args.phases if not any(p in c for c in curves.values())]
  if missing:
    print(f"plot_stage_curves: no run has epochs of {missing}, seed "
          f"{args.seed}", file=sys.stderr)
    return 2
  plot(args.out + ".png", curves, args.phases, args.seed)
  return 0


if __name__ == "__main__":
  sys.exit(main())
