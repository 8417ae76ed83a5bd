"""Runs on N emulated CPU devices (a fresh process: the device count is fixed
when JAX starts) and prints JSON comparing mesh runs with one device.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m tests.mesh_worker
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import coprune_jax as cj
from coprune_jax import sharding
from coprune_jax.core import tree_paths
from coprune_jax.models import CifarNet
from coprune_jax.train import protocol

SHARD_RULES = ("conv3/kernel", "fc1/kernel")  # FSDP-style for two layers
NUM_STEPS = 4
BATCH = 16


def apply_fn(params, images):
  return CifarNet(num_classes=10).apply({"params": params}, images)


def batches(step):
  key = jax.random.key(step)
  keys = jax.random.split(key, 4)
  source = (jax.random.normal(keys[0], (BATCH, 32, 32, 3)),
            jax.random.randint(keys[1], (BATCH,), 0, 10))
  target = (jax.random.normal(keys[2], (BATCH, 32, 32, 3)) + 0.3,
            jax.random.randint(keys[3], (BATCH,), 0, 10))
  return source, target


def initial_state(coprune):
  source = CifarNet(num_classes=10).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  target = jax.tree.map(lambda w: 1.05 * w + 1e-3, source)
  return coprune.init(source, target, alpha=0.7)


def cooperative_steps_on(mesh):
  source = CifarNet(num_classes=10).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  ratios = cj.keep_ratio_tree(source, protocol.CIFAR_NET_KEEP_RATIOS_10_4)
  coprune = cj.published_coprune(ratios,
                                 cj.classification_objective(apply_fn))
  state = initial_state(coprune)
  step = coprune.step
  if mesh is not None:
    shardings = sharding.state_shardings(state, mesh, SHARD_RULES)
    state = jax.device_put(state, shardings)
    step = sharding.sharded_step(step, shardings, mesh)
  for i in range(NUM_STEPS):
    source_batch, target_batch = batches(i)
    if mesh is not None:
      source_batch = sharding.global_batch(source_batch, mesh)
      target_batch = sharding.global_batch(target_batch, mesh)
    state, _ = step(state, source_batch, target_batch)
  return state


def dns_steps_on(mesh):
  """A baseline's training step: DNS (mask surgery + straight-through)."""
  from coprune_jax.core import masked_training  # pylint: disable=g-import-not-at-top
  params = CifarNet(num_classes=10).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  ratios = cj.keep_ratio_tree(params, protocol.CIFAR_NET_KEEP_RATIOS_10_4)
  state = masked_training.init_masked_state(
      params, cj.magnitude_masks(params, ratios))
  step = masked_training.make_masked_step(cj.pruners.dns(ratios), apply_fn)
  if mesh is not None:
    placement = sharding.Placement(mesh, SHARD_RULES)
    state = placement.state(state)
    step = placement.step(step, state, 1)
  for i in range(NUM_STEPS):
    batch = batches(i)[1]
    if mesh is not None:
      batch = placement.batch(batch)
    state, _ = step(state, batch)
  return state


def compare(state, reference):
  """Largest float difference per leaf (relative to the leaf's largest
  magnitude), differing mask entries and exact-equality of everything else."""
  relative, mismatched, kept, unequal = {}, 0, {}, []
  for (name, a), (_, b) in zip(tree_paths.named_leaves(state),
                               tree_paths.named_leaves(reference)):
    a, b = np.asarray(a), np.asarray(b)
    finite = np.isfinite(b)
    if a.dtype == bool:
      mismatched += int((a != b).sum())
      kept[name] = [int(a.sum()), int(b.sum())]
    elif not np.array_equal(a[~finite], b[~finite]):
      unequal.append(name)  # e.g. the plateau's initial best loss, inf
    elif np.issubdtype(a.dtype, np.floating) and finite.any():
      scale = max(float(np.abs(b[finite]).max()), 1e-12)
      relative[name] = float(np.abs(a - b)[finite].max()) / scale
    elif not np.array_equal(a, b):
      unequal.append(name)
  worst = max(relative, key=relative.get)
  return {"max_relative_difference": relative[worst], "worst_leaf": worst,
          "mask_mismatches": mismatched, "unequal": unequal, "kept": kept}


def sharded_topk_is_exact(mesh):
  # Integer scores: many ties, so the index-order tie rule is exercised too.
  scores = jnp.asarray(np.random.default_rng(0).integers(
      0, 7, (5, 5, 32, 64)).astype(np.float32))
  reference = cj.topk.topk_mask(scores, 0.095)
  results = []
  for spec in [(None, None, None, sharding.DATA_AXIS),
               (None, None, sharding.DATA_AXIS, None)]:
    placed = jax.device_put(scores, jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec(*spec)))
    mask = jax.jit(lambda s: cj.topk.topk_mask(s, 0.095))(placed)
    results.append(bool(np.array_equal(np.asarray(mask),
                                       np.asarray(reference))))
  return results


def mesh_evaluation_equals_local(mesh):
  """Accuracy of a 13-example split (padded to 16 on 8 devices)."""
  from coprune_jax.data import input_pipeline as pipeline  # pylint: disable=g-import-not-at-top
  from coprune_jax.models import Mlp  # pylint: disable=g-import-not-at-top
  from coprune_jax.models.classifier import Classifier  # pylint: disable=g-import-not-at-top
  from coprune_jax.train import phases  # pylint: disable=g-import-not-at-top
  classifier = Classifier(Mlp(hidden=(16,), num_classes=3))
  weights = classifier.init(0, (5,))
  rng = np.random.default_rng(0)
  split = pipeline.Split(rng.normal(size=(13, 5)).astype(np.float32),
                         rng.integers(0, 3, 13), np.zeros(5, np.float32),
                         np.ones(5, np.float32))
  local = phases.make_evaluator(classifier)(weights, split)
  placed = phases.make_evaluator(
      classifier, placement=sharding.Placement(mesh))(weights, split)
  return [local, placed]


def error_messages(mesh):
  messages = []
  for bad in [lambda: sharding.global_batch(np.zeros((12, 3)), mesh),
              lambda: sharding.state_shardings({"fc2": {"bias": jnp.zeros(10)}},
                                               mesh, ["fc2/bias"]),
              lambda: sharding.state_shardings({"w": jnp.zeros(8)}, mesh,
                                               ["conv9"])]:
    try:
      bad()
      messages.append(None)
    except ValueError as e:
      messages.append(str(e))
  return messages


def pipeline_on_two_devices(workdir):
  """The tiny pipeline of test_pipeline through the CLI, on 1 and 2 devices:
  first-epoch losses of every phase, and the kept counts."""
  from coprune_jax import cli  # pylint: disable=g-import-not-at-top
  from tests.pipeline_configs import OFFLINE_CONFIG, TINY  # pylint: disable=g-import-not-at-top
  sets = [x for item in TINY for x in ("--set", item)]
  outcome = {}
  for devices in (None, 2):
    run_dir = f"{workdir}/devices_{devices}"
    argv = ["run", OFFLINE_CONFIG, "--workdir", run_dir, "--no-progress"]
    argv += sets + (["--devices", str(devices)] if devices else [])
    assert cli.main(argv) == 0
    with open(f"{run_dir}/metrics.jsonl") as f:
      records = [json.loads(line) for line in f]
    first = {}
    for r in records:
      first.setdefault(r["phase"], r.get("train_loss", r.get("target_loss")))
    with open(f"{run_dir}/report.json") as f:
      report = json.load(f)
    outcome[str(devices)] = {
        "first_epoch_loss": first,
        "kept": report["seeds"]["0"]["coprune_model"]["kept_total"]}
  outcome["indivisible"] = cli.main(
      ["run", OFFLINE_CONFIG, "--workdir", f"{workdir}/bad", "--devices", "2"]
      + sets + ["--set", "prune.batch_size=9"])
  return outcome


def main():
  if sys.argv[1:2] == ["pipeline"]:
    print(json.dumps(pipeline_on_two_devices(sys.argv[2])))
    return
  reference = cooperative_steps_on(None)
  state = cooperative_steps_on(sharding.data_mesh())
  mesh_state_spec = str(state.target_masks["conv3"]["kernel"].sharding.spec)
  print(json.dumps({
      "devices": jax.device_count(),
      "cooperative": compare(state, reference),
      "dns": compare(dns_steps_on(sharding.data_mesh()), dns_steps_on(None)),
      "sharded_mask_spec": mesh_state_spec,
      "replicated_mask_spec": str(
          state.target_masks["conv1"]["kernel"].sharding.spec),
      "topk_exact": sharded_topk_is_exact(sharding.data_mesh()),
      "errors": error_messages(sharding.data_mesh()),
      "evaluation": mesh_evaluation_equals_local(sharding.data_mesh()),
  }))


if __name__ == "__main__":
  main()
