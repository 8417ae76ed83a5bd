"""report.json: accuracies over seeds, true kept ratios, sizes; then plots."""

import datetime
import importlib.metadata
import json
import os
import platform

import jax
import numpy as np

from coprune_jax.core import keep_ratios as keep_ratios_lib
from coprune_jax.core import tree_paths
from coprune_jax.train import plots


def _mean_std(values):
  values = [float(v) for v in values]
  std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
  return {"mean": float(np.mean(values)), "std": std, "n": len(values),
          "values": values}


# Installed packages whose versions can move a run's figures (the
# offline default's moved with a rebuilt environment).
_RESULT_PACKAGES = ("jaxlib", "flax", "optax", "orbax-checkpoint", "numpy",
                    "scikit-learn", "pillow", "matplotlib",
                    "tensorflow-datasets")


def installed_versions() -> dict[str, str]:
  """{package: version} of `_RESULT_PACKAGES` that are installed."""
  versions = {}
  for name in _RESULT_PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      pass
  return versions


def cpu_model() -> str:
  """The CPU's model name, where the OS says it (XLA's CPU code depends on
  the CPU)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def machine() -> dict:
  device = jax.devices()[0]
  return {"platform": platform.platform(), "processor": platform.machine(),
          "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
          "jax": jax.__version__,
          "backend": jax.default_backend(), "device": device.device_kind,
          "packages": installed_versions()}


def describe_machine(facts: dict) -> str:
  """`machine()`'s facts as one line for a results file's header."""
  return (f"{facts['backend']} ({facts['device']}, {facts['cpu_count']} CPUs, "
          f"{facts['cpu_model']}), JAX {facts['jax']}; "
          + ", ".join(f"{name} {version}"
                      for name, version in facts["packages"].items()))


def model_facts(experiment) -> dict:
  params, _ = experiment.init_weights(0)
  named = dict(tree_paths.named_leaves(params))
  layers = {}
  for name, keep_ratio in tree_paths.named_leaves(experiment.keep_ratios):
    size = named[name].size
    layers[name] = {"size": size, "requested_keep_ratio": keep_ratio,
                    "kept": keep_ratios_lib.kept_count(size, keep_ratio)}
  total = sum(w.size for w in named.values())
  prunable = sum(layer["size"] for layer in layers.values())
  kept = sum(layer["kept"] for layer in layers.values())
  unpruned = total - prunable
  return {
      "name": experiment.config.model.name,
      "parameters_total": total,
      "parameters_prunable": prunable,
      "parameters_kept": kept + unpruned,
      "layers": layers,
      "overall_keep_ratio": kept / prunable if prunable else 1.0,
      "dense_float32_bytes": 4 * total,
  }


def write_report(workdir: str, experiment, per_seed: dict) -> dict:
  metrics = sorted({k for r in per_seed.values() for k, v in r.items()
                    if isinstance(v, (int, float))})
  summary = {k: _mean_std([r[k] for r in per_seed.values() if k in r])
             for k in metrics}
  config = experiment.config
  labels = {name: config.methods[name]["label"] for name in config.compare}
  true_keep = {}
  for method in labels:
    facts = [r[f"{method}_model"] for r in per_seed.values()
             if f"{method}_model" in r]
    if facts:
      true_keep[method] = {
          "overall": [f["kept_total"] / f["prunable_total"] for f in facts],
          "per_layer_kept": [f["kept_per_layer"] for f in facts],
          "file_bytes": [f["file"]["bytes"] for f in facts if "file" in f]}
  report = {
      "date": datetime.datetime.now().isoformat(timespec="seconds"),
      "machine": machine(),
      "config_file": experiment.config.get("config_file"),
      "overrides": list(experiment.config.get("overrides", [])),
      "label_names": list(experiment.data.label_names),
      "target_labels_per_class": experiment.config.target.labels_per_class,
      "alphas": list(experiment.schedule.values),
      # [name, label] pairs in the order they ran (the file sorts keys).
      "methods": [[name, label] for name, label in labels.items()],
      "model": model_facts(experiment),
      "true_keep_ratio": true_keep,
      "summary": summary,
      "seeds": per_seed,
  }
  with open(os.path.join(workdir, "report.json"), "w") as f:
    json.dump(report, f, indent=1, sort_keys=True)
  plots.write_plots(workdir)
  return report


def summary_lines(report: dict) -> list[str]:
  """Human-readable lines: test accuracy (mean +- std over seeds) and keep."""
  s = report["summary"]
  rows = [("source model on target", "source_on_target_test"),
          ("fine-tuned target, dense", "finetuned_on_target_test")] + [
              (label, f"{method}_on_target_test")
              for method, label in plots.methods_of(report)]
  model = report["model"]
  lines = [f"target test accuracy over {len(report['seeds'])} seed(s), "
           f"{model['name']}, keeping {model['overall_keep_ratio']:.4%} of "
           f"{model['parameters_prunable']:,} prunable weights:"]
  for label, key in rows:
    if key in s:
      lines.append(f"  {label:28s} {100 * s[key]['mean']:6.2f} +- "
                   f"{100 * s[key]['std']:.2f} %")
  for method, keep in report["true_keep_ratio"].items():
    lines.append(f"  true kept ratio ({method}): "
                 + ", ".join(f"{k:.4%}" for k in keep["overall"]))
    if keep["file_bytes"]:
      lines.append(f"  exported {method} model (CSR, seed_*/{method}_target"
                   f".npz): " + ", ".join(f"{b:,}" for b in keep["file_bytes"])
                   + f" bytes vs {model['dense_float32_bytes']:,} dense")
  return lines


def progress_lines(records: list[dict]) -> list[str]:
  """Where an unfinished run stands: per seed and phase, the last epoch
  logged and the best validation accuracy so far."""
  lines = []
  for seed in sorted({r["seed"] for r in records}):
    phases = {}
    for r in records:
      if r["seed"] == seed:
        phases.setdefault(r["phase"], []).append(r)
    for phase, rows in phases.items():
      last = rows[-1]
      stage = f"stage {last['stage']}, " if phase not in (
          "pretrain", "finetune") else ""
      best = max(r["val_accuracy"] for r in rows)
      lines.append(f"  seed {seed} {phase:10s} {stage}epoch {last['epoch']} "
                   f"({len(rows)} logged), best val accuracy "
                   f"{100 * best:.2f} %")
  return lines
