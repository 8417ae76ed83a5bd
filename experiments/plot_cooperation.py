"""When cooperation helps: Co-Prune's paired gap across tables, in one figure.

Reads the per-seed CSVs that run_table.py writes (<table>_seeds.csv) and,
for one keep setting, puts each table's per-seed gap of a method to alpha = 0
(the target pruned alone) and to DNS against how well the source model alone
does on the target's test data (`--x source`) or against how far the target
pruned alone ends below it (`--x headroom`: source alone minus alpha = 0, per
seed):

  python experiments/plot_cooperation.py --setting 1.35 \\
      --out experiments/results/cooperation_1_35 \\
      "MNIST->USPS, 10 labels=experiments/results/table_mnist_usps_10_p40_seeds.csv" ...

Writes OUT.md (one row per table) and OUT.png.
"""

import argparse
import os
import sys

import numpy as np

from coprune_jax import cli
from coprune_jax.train import plots
from coprune_jax.train import config_files
from coprune_jax.train import table_report

# The labels of the methods in results files: the configs' method catalogue.
LABELS = config_files.load_module(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "configs", "common.py"),
    "common").labels()


def method_label(method: str) -> str:
  return LABELS.get(method, method)

REFERENCES = ("alpha0", "dns")
X_AXES = {"source": "source model alone on target test (%)",
          "headroom": "source alone minus alpha = 0 on target test (points)"}


def cooperation_gaps(accuracy: dict, setting: str, method: str) -> dict:
  """Per-seed gaps of `method` to each reference (points), the source
  model's own target test accuracy (mean) and its per-seed lead over alpha =
  0 (`headroom`, None unless every seed has it), over the seeds where all
  cells exist."""
  seeds = sorted(s for (st, m, s) in accuracy if st == setting and m == method
                 and all((setting, r, s) in accuracy for r in REFERENCES))
  if not seeds:
    raise ValueError(f"no seed has {method} and {REFERENCES} at {setting}")
  gaps = {r: np.array([accuracy[(setting, method, s)] -
                       accuracy[(setting, r, s)] for s in seeds])
          for r in REFERENCES}
  source = {s: accuracy[("any", "source", s)] for s in seeds
            if ("any", "source", s) in accuracy}
  headroom = (np.array([source[s] - accuracy[(setting, "alpha0", s)]
                        for s in seeds]) if len(source) == len(seeds) else None)
  return {"seeds": seeds, "gaps": gaps, "headroom": headroom,
          "source_mean": (float(np.mean(list(source.values()))) if source
                          else None)}


def markdown(rows: list, method: str, setting: str) -> str:
  name = method_label(method)
  lines = [f"| table | source alone on target test | source alone minus "
           f"alpha = 0 | {name} minus alpha = 0 (per seed) | minus DNS (per "
           "seed) |",
           "|---|---|---|---|---|"]
  for label, row in rows:
    cells = [", ".join(f"{g:+.2f}" for g in row["gaps"][r]) +
             f" (mean {row['gaps'][r].mean():+.2f})" for r in REFERENCES]
    source = ("n/a" if row["source_mean"] is None
              else f"{row['source_mean']:.2f}")
    headroom = ("n/a" if row["headroom"] is None
                else f"{row['headroom'].mean():+.2f}")
    lines.append(f"| {label} | {source} | {headroom} | {cells[0]} | "
                 f"{cells[1]} |")
  return (f"Paired gaps at {setting} kept, percentage points.\n\n" +
          "\n".join(lines) + "\n")


def x_values(row: dict, x_axis: str) -> np.ndarray:
  """Each seed's position on the figure's x axis (0 where unknown)."""
  seeds = len(row["seeds"])
  if x_axis == "headroom":
    return row["headroom"] if row["headroom"] is not None else np.zeros(seeds)
  return np.full(seeds, row["source_mean"] or 0.0)


def plot(path: str, rows: list, method: str, setting: str,
         x_axis: str = "source") -> None:
  plt = plots.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2 + 0.2 * len(rows)),
                           sharey=True)
  for ax, reference in zip(axes, REFERENCES):
    for i, (label, row) in enumerate(rows):
      x = x_values(row, x_axis)
      gaps = row["gaps"][reference]
      # Ten colours, then the next ten rows with other marker shapes.
      colour, shape = f"C{i % 10}", i // 10 % 3
      ax.scatter(x, gaps, color=colour, alpha=0.45, s=18,
                 marker="o^v"[shape])
      ax.scatter([x.mean()], [gaps.mean()], color=colour, s=50,
                 marker="D^v"[shape], label=label)
    ax.axhline(0, color="grey", lw=1)
    ax.axhline(2, color="grey", lw=1, ls=":")
    ax.set_xlabel(X_AXES[x_axis])
    ax.set_title(f"{method_label(method)} minus\n"
                 f"{LABELS[reference]} at {setting} kept",
                 fontsize=10)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("paired gap, points (small: seeds; large: mean)")
  # Below both panels: long table labels would squeeze a side legend.
  fig.legend(*axes[0].get_legend_handles_labels(), fontsize=8,
             loc="lower center", ncol=2)
  legend_lines = (len(rows) + 1) // 2
  plots.save_figure(fig, path, rect=(0, 0.05 * legend_lines, 1, 1))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("tables", nargs="+", metavar="LABEL=SEEDS_CSV",
                      type=cli.labelled_path)
  parser.add_argument("--setting", default="1.35")
  parser.add_argument("--method", default="coprune")
  parser.add_argument("--x", choices=sorted(X_AXES), default="source",
                      help="the figure's x axis (see above)")
  parser.add_argument("--out", required=True, help="writes OUT.md, OUT.png")
  args = parser.parse_args(argv)
  rows = []
  for label, path in args.tables:
    try:
      rows.append((label, cooperation_gaps(table_report.read_seeds(path),
                                           args.setting, args.method)))
    except (OSError, ValueError) as e:
      print(f"plot_cooperation: {path}: {e}", file=sys.stderr)
      return 2
  text = markdown(rows, args.method, args.setting)
  with open(args.out + ".md", "w") as f:
    f.write(text)
  plot(args.out + ".png", rows, args.method, args.setting, args.x)
  print(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
