"""Plots of a run from its metrics.jsonl and report.json (PNG, matplotlib)."""

import json
import os

from coprune_jax.train.metrics_log import read_records, select

STYLES = ("-", "--", ":", "-.")
DENSE_PHASES = ("pretrain", "finetune")


# What a run wrote before its report named its methods: these two.
_EARLIER_METHODS = [["coprune", "Co-Prune"],
                    ["alpha0", "alpha = 0 (target alone)"]]


def methods_of(report: dict) -> list:
  """[name, label] of each method of a report, in the order they ran."""
  return report.get("methods", _EARLIER_METHODS)


def pyplot():
  """matplotlib.pyplot on the file-only Agg backend, imported on first use
  (machines without a display; importing this module stays cheap)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_figure(fig, path: str, dpi: int = 110, rect=None) -> None:
  """Writes `fig` to `path` (laid out tight within `rect`, the figure's
  (left, bottom, right, top) fractions) and frees it."""
  fig.tight_layout(rect=rect)
  fig.savefig(path, dpi=dpi)
  pyplot().close(fig)


def _series(records, key):
  """x: epoch counted across stages; y: the record's value."""
  return list(range(1, len(records) + 1)), [r[key] for r in records]


def write_plots(workdir: str) -> list[str]:
  """Draws the run's plots into workdir/plots; returns their paths.

  A run without report.json (still running, or interrupted) gets the plots
  of its metrics.jsonl so far: curves, alpha and lr, mask overlap.
  """
  plt = pyplot()
  records = read_records(os.path.join(workdir, "metrics.jsonl"))
  report_path = os.path.join(workdir, "report.json")
  report = None
  if os.path.exists(report_path):
    with open(report_path) as f:
      report = json.load(f)
  seeds = sorted({r["seed"] for r in records})
  colors = {s: f"C{i}" for i, s in enumerate(seeds)}
  # The pruning methods, in the order they ran; the first cooperative one
  # (its records carry alpha) gets the alpha and mask-overlap plots.
  methods = list(dict.fromkeys(r["phase"] for r in records
                               if r["phase"] not in DENSE_PHASES))
  cooperative = next((m for m in methods if any(
      "alpha" in r for r in select(records, phase=m))), None)
  out_dir = os.path.join(workdir, "plots")
  os.makedirs(out_dir, exist_ok=True)
  written = []

  def save(fig, name):
    path = os.path.join(out_dir, name)
    save_figure(fig, path)
    written.append(path)

  # Loss and accuracy per epoch, for fine-tuning and the pruning methods.
  fig, axes = plt.subplots(2, 2, figsize=(11, 7))
  for seed in seeds:
    fine = select(records, seed=seed, phase="finetune")
    if fine:
      axes[0, 0].plot(*_series(fine, "train_loss"), color=colors[seed],
                      label=f"seed {seed}")
      axes[1, 0].plot(*_series(fine, "train_accuracy"), color=colors[seed],
                      alpha=0.5)
      axes[1, 0].plot(*_series(fine, "val_accuracy"), color=colors[seed])
    for i, method in enumerate(methods):
      style = STYLES[i % len(STYLES)]
      rows = select(records, seed=seed, phase=method)
      if rows:
        axes[0, 1].plot(*_series(rows, "target_loss"), style,
                        color=colors[seed], label=f"{method}, seed {seed}")
        axes[1, 1].plot(*_series(rows, "val_accuracy"), style,
                        color=colors[seed])
  axes[0, 0].set(title="fine-tune on target: train loss", xlabel="epoch")
  axes[1, 0].set(title="fine-tune: train (faint) and val accuracy",
                 xlabel="epoch")
  axes[0, 1].set(title="pruning: target train loss", xlabel="epoch (all stages)")
  axes[1, 1].set(title="pruning: target val accuracy (masked)",
                 xlabel="epoch (all stages)")
  for ax in axes.flat:
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=7)
  save(fig, "loss_accuracy.png")

  # alpha and learning rate over time.
  fig, (ax_alpha, ax_lr) = plt.subplots(1, 2, figsize=(11, 3.5))
  for seed in seeds:
    rows = select(records, seed=seed, phase=cooperative)
    if rows:
      ax_alpha.step(*_series(rows, "alpha"), where="post", color=colors[seed],
                    label=f"seed {seed}")
      ax_lr.step(*_series(rows, "learning_rate"), where="post",
                 color=colors[seed])
  ax_alpha.set(title=f"{cooperative}: transfer factor alpha", xlabel="epoch",
               ylim=(-0.05, 1.05))
  ax_lr.set(title="target learning rate", xlabel="epoch", yscale="log")
  if ax_alpha.lines:
    ax_alpha.legend(fontsize=7)
  save(fig, "alpha_lr.png")

  # Overlap of source and target masks per layer over time.
  rows = (select(records, seed=seeds[0], phase=cooperative)
          if seeds and cooperative else [])
  if rows:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in rows[0]["mask_iou"]:
      ax.plot(range(1, len(rows) + 1), [r["mask_iou"][name] for r in rows],
              label=name)
    ax.set(title=f"{cooperative}: IoU of source and target masks "
           f"(seed {seeds[0]})",
           xlabel="epoch (all stages)", ylim=(0, 1.02))
    ax.legend(fontsize=7)
    save(fig, "mask_iou.png")
  if report is None:
    return written

  # Requested and true kept fraction per layer.
  layers = report["model"]["layers"]
  names = list(layers)
  fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names)), 3.8))
  xs = range(len(names))
  ax.bar([x - 0.2 for x in xs],
         [layers[n]["requested_keep_ratio"] for n in names], 0.4,
         label="requested")
  labels = dict(methods_of(report))  # in the order they ran
  first = next(iter(report["true_keep_ratio"]), None)
  kept = first and report["true_keep_ratio"][first]["per_layer_kept"]
  if kept and kept[0]:
    ax.bar([x + 0.2 for x in xs],
           [kept[0].get(n, 0) / layers[n]["size"] for n in names], 0.4,
           label=f"kept by {labels.get(first, first)} (first seed)")
  ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
  ax.set(title="fraction of weights kept per layer")
  ax.legend(fontsize=8)
  save(fig, "kept_per_layer.png")

  # Test accuracy per method, mean and std over seeds.
  summary = report["summary"]
  bars = [(label, key) for label, key in [
      ("source only", "source_on_target_test"),
      ("fine-tuned dense", "finetuned_on_target_test")] + [
          (label, f"{method}_on_target_test")
          for method, label in labels.items()] if key in summary]
  fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(bars)), 3.8))
  ax.bar([b[0] for b in bars], [100 * summary[k]["mean"] for _, k in bars],
         yerr=[100 * summary[k]["std"] for _, k in bars], capsize=4)
  ax.set(title="target test accuracy (%), mean +- std over seeds")
  ax.tick_params(axis="x", labelrotation=20, labelsize=8)
  save(fig, "accuracy.png")
  return written
