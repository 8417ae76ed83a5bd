"""Latency of pruned fully connected layers computed sparsely vs densely.

  python experiments/bench_sparse_inference.py --json experiments/results/bench_sparse_inference_cpu.json

For CIFAR-Net (the paper's 1.35% per-layer ratios and our 10.4%) and
LeNet-5 (1.35% and 10.4% of every kernel), magnitude masks of freshly
initialised weights; the fully connected layers as a jitted chain
(relu between layers), dense (W * M, a matmul) vs `sparse_inference`
(kept weights only, padded per output column, the columns in 4 groups of
similar kept counts; also timed as one group) vs JAX's own sparse format
(`jax.experimental.sparse.BCOO` of the kept weights, `x @ W`), at batch 1
and 128; the chains' outputs are checked equal before timing. Two timings
per program: one call as a user makes it (median wall time, dispatch
included), and the compute alone (the chain applied 100 times inside one
program, per application). The whole model's call is given for scale,
dense and with its fully connected layers sparse (`sparse_dense_model`; its
convolutions stay dense). The programs are timed in turn, in 5 rounds; each
figure is the median over the rounds. Weights are random, so only the
counts matter, not the values.
"""

import argparse
import datetime
import json
import operator
import platform
import statistics
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

import coprune_jax as cj
from coprune_jax.compression import sparse_inference
from coprune_jax.models import CifarNet, LeNet5
from coprune_jax.train import protocol
from bench_step import median_seconds  # this script's folder is on sys.path

REPEATS = 100  # applications of the chain inside one program


def setups():
  """(name, model, input shape, {setting: keep-ratio rules})."""
  uniform = lambda keep: [(".*kernel", keep)]
  return [
      ("cifar_net", CifarNet(num_classes=9), (32, 32, 3),
       {"1.35": protocol.CIFAR_NET_KEEP_RATIOS_1_35,
        "10.4": protocol.CIFAR_NET_KEEP_RATIOS_10_4}),
      ("lenet5", LeNet5(num_classes=10), (28, 28, 1),
       {"1.35": uniform(0.0135), "10.4": uniform(0.104)}),
  ]


def fc_layers(params, masks):
  """[(kernel * mask, bias, mask)] of the Dense layers, input to output."""
  names = sorted(n for n in params if n.startswith("fc"))
  return [(jnp.where(masks[n]["kernel"], params[n]["kernel"], 0),
           params[n]["bias"], masks[n]["kernel"]) for n in names]


def chain(layers, matmul):
  def apply(x):
    for i, (kernel, bias) in enumerate(layers):
      x = matmul(x, kernel) + bias
      if i + 1 < len(layers):
        x = jax.nn.relu(x)
    return x
  return apply


def repeated(apply, num_outputs):
  """The chain applied REPEATS times in one program (inputs differ so that
  no application can be skipped)."""
  def run(x):
    def body(i, total):
      return total + apply(x + i.astype(x.dtype))[:, :num_outputs].sum()
    return jax.lax.fori_loop(0, REPEATS, body, jnp.zeros((), x.dtype))
  return run


def interleaved_medians(programs, x, rounds):
  """{name: seconds} per call of each program ({name: (fn, calls)}): the
  median over `rounds` rounds, each timing every program in turn (median of
  its calls), so that a slow spell of a shared machine hits all alike."""
  programs = {name: (jax.jit(fn), calls) for name, (fn, calls)
              in programs.items()}
  times = {name: [] for name in programs}
  for _ in range(rounds):
    for name, (fn, calls) in programs.items():
      times[name].append(median_seconds(
          lambda: fn(x).block_until_ready(), calls, max(10, calls // 10)))
  return {name: statistics.median(t) for name, t in times.items()}


def bench(name, model, shape, rules, batch, num_calls, rounds):
  params = model.init(jax.random.key(0), jnp.ones((1,) + shape))["params"]
  masks = cj.magnitude_masks(params, cj.keep_ratio_tree(params, rules))
  layers = fc_layers(params, masks)
  dense = chain([(k, b) for k, b, _ in layers], jnp.matmul)
  sparse_chain = lambda groups: chain(
      [(sparse_inference.padded_columns(k, m, groups), b)
       for k, b, m in layers], sparse_inference.sparse_matmul)
  sparse, one_group = sparse_chain(4), sparse_chain(1)
  bcoo = chain([(jsparse.BCOO.fromdense(k, nse=int(m.sum())), b)
                for k, b, m in layers], operator.matmul)
  x = jax.random.normal(jax.random.key(1), (batch, layers[0][0].shape[0]))
  # Checked at full float32: a GPU's default matmul (TF32) differs from
  # the sparse paths' exact products by more than the tolerance.
  with jax.default_matmul_precision("highest"):
    expected = jax.jit(dense)(x)
    for other in (sparse, one_group, bcoo):
      np.testing.assert_allclose(jax.jit(other)(x), expected, rtol=1e-4,
                                 atol=1e-4)
  num_outputs = layers[-1][0].shape[1]
  calls, compute_calls = num_calls // rounds, max(20, num_calls // 20) // rounds
  programs = {}
  for label, apply in (("dense", dense), ("sparse", sparse),
                       ("one_group", one_group), ("bcoo", bcoo)):
    if label != "one_group":
      programs[f"{label}_call"] = (apply, calls)
    programs[f"{label}_compute"] = (repeated(apply, num_outputs),
                                    compute_calls)
  seconds = interleaved_medians(programs, x, rounds)
  row = {"model": name, "batch": batch,
         "fc_kept": sum(int(m.sum()) for _, _, m in layers),
         "fc_weights": sum(int(m.size) for _, _, m in layers)}
  for program, t in seconds.items():
    per_application = REPEATS if program.endswith("_compute") else 1
    row[f"{program}_us"] = 1e6 * t / per_application
  images = jnp.ones((batch,) + shape)
  sparse_model = sparse_inference.sparse_dense_model(model, params, masks)
  with jax.default_matmul_precision("highest"):
    np.testing.assert_allclose(
        jax.jit(sparse_model)(images),
        model.apply({"params": cj.apply_masks(params, masks)}, images),
        rtol=1e-4, atol=1e-4)
  model_calls = max(10, calls // 4)
  for program, t in interleaved_medians(
      {"whole_dense_model_call": (
          lambda v: model.apply({"params": params}, v), model_calls),
       "whole_sparse_fc_model_call": (sparse_model, model_calls)},
      images, rounds).items():
    row[f"{program}_us"] = 1e6 * t
  row["call_speedup"] = row["dense_call_us"] / row["sparse_call_us"]
  row["compute_speedup"] = row["dense_compute_us"] / row["sparse_compute_us"]
  row["bcoo_call_speedup"] = row["dense_call_us"] / row["bcoo_call_us"]
  row["bcoo_compute_speedup"] = (row["dense_compute_us"]
                                 / row["bcoo_compute_us"])
  return row


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--calls", type=int, default=2000,
                      help="calls per program, split over the rounds")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--json", default=None, help="write the rows here")
  args = parser.parse_args(argv)
  rows = []
  print("| model | kept | batch | FC kept / weights | dense call | sparse call "
        "| call speed-up | dense compute | sparse compute | compute speed-up "
        "| sparse compute, one group "
        "| BCOO call | BCOO compute | BCOO compute speed-up "
        "| whole model call, dense | whole model call, sparse FC |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
  for name, model, shape, settings in setups():
    for setting, rules in settings.items():
      for batch in (1, 128):
        row = bench(name, model, shape, rules, batch, args.calls,
                    args.rounds)
        row["setting"] = setting
        rows.append(row)
        print(f"| {name} | {setting}% | {batch} | {row['fc_kept']:,} / "
              f"{row['fc_weights']:,} | {row['dense_call_us']:.1f} us | "
              f"{row['sparse_call_us']:.1f} us | {row['call_speedup']:.2f}x | "
              f"{row['dense_compute_us']:.2f} us | "
              f"{row['sparse_compute_us']:.2f} us | "
              f"{row['compute_speedup']:.2f}x | "
              f"{row['one_group_compute_us']:.2f} us | "
              f"{row['bcoo_call_us']:.1f} us | "
              f"{row['bcoo_compute_us']:.2f} us | "
              f"{row['bcoo_compute_speedup']:.2f}x | "
              f"{row['whole_dense_model_call_us']:.0f} us | "
              f"{row['whole_sparse_fc_model_call_us']:.0f} us |", flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"date": datetime.date.today().isoformat(),
                 "device": jax.devices()[0].device_kind,
                 "platform": platform.platform(),
                 "jax_version": jax.__version__,
                 # Timings run at this precision (None: the backend's own).
                 "matmul_precision": jax.config.jax_default_matmul_precision,
                 "rows": rows}, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
