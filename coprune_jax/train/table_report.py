"""Writes a results table: <name>.md, .csv, _seeds.csv, _paired.csv, .png."""

import csv
import datetime
import os

import numpy as np

from coprune_jax.train import plots
from coprune_jax.train import report as report_lib

# The setting name of the cells of methods whose model ignores the keep
# ratios (`methods.keep_ratio_free`) and of the dense models.
KEEP_RATIO_FREE_SETTING = "any"
# The fine-tuned dense target every method starts from, one cell per seed.
DENSE = "finetuned"
# The source model alone on the target data: what transfer gives for free.
SOURCE = "source"
# Dense models tabled beside the methods, as (source, target) weights index.
DENSE_MODELS = (SOURCE, DENSE)
# Every method is also compared with each of these, seed by seed, where the
# table has it: the published method, the target pruned alone, and the
# baseline at the same budget nearest to Co-Prune.
PAIRED_WITH = ("coprune", "alpha0", "dns")
# A cell's best test accuracy over its epochs (`prune.report_test_selected`).
TEST_SELECTED = "test_selected_on_target_test"
DENSE_LABELS = {DENSE: "fine-tuned target, dense (the common start)",
                SOURCE: "source model alone, dense (no target training)"}


def labels_of(config) -> dict:
  """{name: label in reports} of the dense models and the config's methods."""
  return {**DENSE_LABELS, **{name: section["label"] for name, section
                             in (config.get("methods") or {}).items()}}


def _kept_ratio(cell: dict) -> float:
  model = cell["model"]
  return model["kept_total"] / model["prunable_total"]


def summarise(cells: list[dict], method_order, setting_order) -> list[dict]:
  """One row per (setting, method): mean and std over seeds."""
  rows = []
  for setting in setting_order:
    for method in method_order:
      group = [c for c in cells if c["setting"] == setting
               and c["method"] == method]
      if not group:
        continue
      test = np.array([c["on_target_test"] for c in group])
      val = np.array([c["on_target_val"] for c in group])
      kept = np.array([_kept_ratio(c) for c in group])
      std = lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0
      rows.append({
          "setting": setting, "method": method, "seeds": len(group),
          "test_accuracy_mean": float(test.mean()),
          "test_accuracy_std": std(test),
          "val_accuracy_mean": float(val.mean()),
          "kept_ratio_mean": float(kept.mean()),
          "kept_ratio_min": float(kept.min()),
          "kept_ratio_max": float(kept.max())})
      overlaps = [np.mean(list(c["mask_iou"].values())) for c in group
                  if c.get("mask_iou")]
      if overlaps:
        rows[-1]["mask_iou_mean"] = float(np.mean(overlaps))
      selected_on_test = [c[TEST_SELECTED] for c in group if TEST_SELECTED in c]
      if selected_on_test:
        rows[-1].update(test_selected_mean=float(np.mean(selected_on_test)),
                        test_selected_std=std(np.array(selected_on_test)),
                        test_selected_seeds=len(selected_on_test))
  return rows


def paired_differences(cells: list[dict], reference: str, method_order,
                       setting_order) -> list[dict]:
  """Per (setting, method): test accuracy minus `reference`'s on each seed.

  Cells of one seed share the source and the fine-tuned start, so the
  per-seed difference removes the spread the start causes, which mean +- std
  per method cannot; the data order still differs (each method's phase name
  seeds its own). Only seeds where both cells exist count.
  """
  test = {(c["setting"], c["method"], c["seed"]): c["on_target_test"]
          for c in cells}
  rows = []
  for setting in setting_order:
    for method in method_order:
      if method == reference:
        continue
      diffs = np.array([
          accuracy - test[(setting, reference, seed)]
          for (s, m, seed), accuracy in sorted(test.items())
          if s == setting and m == method
          and (setting, reference, seed) in test])
      if not diffs.size:
        continue
      rows.append({
          "setting": setting, "method": method, "reference": reference,
          "seeds": int(diffs.size), "difference_mean": float(diffs.mean()),
          "difference_std": (float(np.std(diffs, ddof=1))
                             if diffs.size > 1 else 0.0),
          "seeds_ahead_of_reference": int((diffs > 0).sum())})
  return rows


def _write_csv(path: str, rows: list[dict]) -> None:
  with open(path, "w", newline="") as f:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(f, fieldnames=fields, restval="")
    writer.writeheader()
    writer.writerows(rows)


def read_seeds(path: str) -> dict:
  """{(setting, method, seed): test accuracy in %} of a <name>_seeds.csv."""
  with open(path) as f:
    return {(r["setting"], r["method"], int(r["seed"])):
            100 * float(r["test_accuracy"]) for r in csv.DictReader(f)}


def _accuracy_text(row) -> str:
  """"mean +- std (n)" in %; one seed has no spread to show."""
  mean = f"{100 * row['test_accuracy_mean']:.2f}"
  if row["seeds"] < 2:
    return f"{mean} ({row['seeds']})"
  return f"{mean} +- {100 * row['test_accuracy_std']:.2f} ({row['seeds']})"


def _markdown(rows, paired, config, settings, method_order) -> str:
  labels = labels_of(config)
  lines = [
      f"# {config.table.name}",
      "",
      f"Target test accuracy (%) of the model selected on target validation "
      f"data, mean +- std over seeds (n), and the true kept fraction of the "
      f"prunable weights (for distillation: the slim network's parameters "
      f"over the full network's). Config "
      f"`{os.path.relpath(config.get('config_file', '?'))}`"
      + "".join(f" --set \"{o}\"" for o in config.get("overrides", []))
      + "; "
      f"written {datetime.date.today().isoformat()} on "
      f"{report_lib.describe_machine(report_lib.machine())}.",
      "",
      "| method | " + " | ".join(f"{s} kept" for s in settings) + " |",
      "|---|" + "---|" * len(settings),
  ]
  by_key = {(r["setting"], r["method"]): r for r in rows}
  free = [r for r in rows if r["setting"] == KEEP_RATIO_FREE_SETTING]
  for method in method_order:
    if method in {r["method"] for r in free}:
      continue
    entries = []
    for setting in settings:
      r = by_key.get((setting, method))
      entries.append("" if r is None else f"{_accuracy_text(r)}; "
                     f"{100 * r['kept_ratio_mean']:.3f}%")
    lines.append(f"| {labels[method]} | " + " | ".join(entries) + " |")
  from_source = config.prune.get("target_start") == "source"
  for r in free:  # one model whatever the keep setting
    label = labels[r["method"]]
    if r["method"] == DENSE and from_source:
      label = ("fine-tuned target, dense (for reference: the methods start "
               "from the source, prune.target_start='source')")
    lines += ["", f"{label}: {_accuracy_text(r)} with "
              f"{100 * r['kept_ratio_mean']:.3f}% of the parameters."]
  if paired:
    lines += _paired_markdown(paired, settings, method_order, labels)
  overlaps = [r for r in rows if "mask_iou_mean" in r]
  if overlaps:
    lines += ["", "Source/target mask overlap of the selected models "
              "(intersection over union of the kept weights, mean over "
              "layers and seeds): " + "; ".join(
                  f"{labels[r['method']]} at {r['setting']}: "
                  f"{r['mask_iou_mean']:.3f}" for r in overlaps) + "."]
  if any("test_selected_mean" in r for r in rows):
    lines += _test_selected_markdown(rows, settings, method_order, labels)
  return "\n".join(lines) + "\n"


def _test_selected_markdown(rows, settings, method_order, labels) -> list[str]:
  lines = [
      "", "## Selected on TEST data (the paper's protocol; not our result)",
      "", "The best target test accuracy over all epochs of each run, as the "
      "paper and the released code select; only to compare with their "
      "numbers. It is optimistic by construction: the tables above select "
      "on validation data."]
  return lines + _method_table(
      rows, settings, method_order,
      lambda r: "" if "test_selected_mean" not in r else _accuracy_text({
          "test_accuracy_mean": r["test_selected_mean"],
          "test_accuracy_std": r["test_selected_std"],
          "seeds": r["test_selected_seeds"]}), labels)


def _method_table(rows, settings, method_order, text, labels) -> list[str]:
  """A markdown table of `text(row)` per method and setting, without the
  methods that have no entry."""
  lines = ["", "| method | " + " | ".join(f"{s} kept" for s in settings)
           + " |", "|---|" + "---|" * len(settings)]
  by_key = {(r["setting"], r["method"]): r for r in rows}
  for method in method_order:
    entries = [text(by_key[(setting, method)])
               if (setting, method) in by_key else "" for setting in settings]
    if any(entries):
      lines.append(f"| {labels[method]} | " + " | ".join(entries) + " |")
  return lines


def _difference_text(row) -> str:
  n = row["seeds"]
  spread = (f" +- {100 * row['difference_std']:.2f}" if n > 1 else "")
  return (f"{100 * row['difference_mean']:+.2f}{spread} ({n}); "
          f"ahead {row['seeds_ahead_of_reference']}/{n}")


def _paired_markdown(paired, settings, method_order, labels) -> list[str]:
  lines = []
  for reference in dict.fromkeys(r["reference"] for r in paired):
    label = labels[reference]
    lines += [
        "", f"## Paired with {label}", "",
        f"Test accuracy minus {label}'s on the same seed (same source model "
        f"and start; each method draws its own data order), in "
        f"percentage points: mean +- std (n), and on how many of the n seeds "
        f"the method is ahead."]
    lines += _method_table([r for r in paired if r["reference"] == reference],
                           settings, method_order, _difference_text, labels)
  return lines


def _plot(path: str, rows, method_order, labels) -> None:
  plt = plots.pyplot()
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(9, 4.5))
  # 12 methods: more than the default 10 colours, so colour and marker vary.
  colours = plt.cm.tab20(np.linspace(0, 1, 20))
  markers = "osD^v<>PXh*p"
  for r in rows:
    if r["method"] in DENSE_MODELS:
      ax.axhline(100 * r["test_accuracy_mean"], color="grey",
                 linestyle="--" if r["method"] == DENSE else ":",
                 label=labels[r["method"]])
  for i, method in enumerate(m for m in method_order
                             if m not in DENSE_MODELS):
    mine = sorted((r for r in rows if r["method"] == method),
                  key=lambda r: r["kept_ratio_mean"])
    if not mine:
      continue
    ax.errorbar([100 * r["kept_ratio_mean"] for r in mine],
                [100 * r["test_accuracy_mean"] for r in mine],
                yerr=[100 * r["test_accuracy_std"] for r in mine],
                marker=markers[i % len(markers)], color=colours[i % 20],
                capsize=3, label=labels[method])
  ax.set_xscale("log")
  # One tick per keep setting, at its median kept fraction, as a plain
  # number: "1.35", not the log axis' "2 x 10^0".
  settings = {r["setting"] for r in rows} - {KEEP_RATIO_FREE_SETTING}
  ticks = [float(np.median([100 * r["kept_ratio_mean"] for r in rows
                            if r["setting"] == s])) for s in settings]
  ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
  ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%.3g"))
  ax.xaxis.set_minor_locator(ticker.NullLocator())
  ax.set_xlabel("kept fraction of prunable weights (%)")
  ax.set_ylabel("target test accuracy (%)")
  ax.grid(alpha=0.3)
  # Beside the axes: inside, the legend of 12 methods hides points.
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  plots.save_figure(fig, path, dpi=120)


def write_table(cells: list[dict], config, results_dir: str) -> list[dict]:
  """Writes the table's files into `results_dir`; returns the summary rows."""
  if not cells:
    return []
  settings = [name for name, _ in config.table.keep_settings]
  method_order = [SOURCE, DENSE] + list(config.table.methods)
  rows = summarise(cells, method_order, settings + [KEEP_RATIO_FREE_SETTING])
  os.makedirs(results_dir, exist_ok=True)
  base = os.path.join(results_dir, config.table.name)
  _write_csv(base + ".csv", rows)
  paired = [row for reference in PAIRED_WITH
            if reference in config.table.methods
            for row in paired_differences(cells, reference, method_order,
                                          settings)]
  if paired:
    _write_csv(base + "_paired.csv", paired)
  elif os.path.exists(base + "_paired.csv"):  # of an earlier table of this name
    os.remove(base + "_paired.csv")
  _write_csv(base + "_seeds.csv", [
      {"setting": c["setting"], "method": c["method"], "seed": c["seed"],
       "test_accuracy": c["on_target_test"], "val_accuracy": c["on_target_val"],
       "selected_stage": c["selected_stage"],
       "kept": c["model"]["kept_total"],
       "prunable": c["model"]["prunable_total"],
       **({TEST_SELECTED: c.get(TEST_SELECTED, "")}
          if any(TEST_SELECTED in d for d in cells) else {})} for c in cells])
  with open(base + ".md", "w") as f:
    f.write(_markdown(rows, paired, config, settings, method_order))
  _plot(base + ".png", rows, method_order, labels_of(config))
  return rows
