import json
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax import sharding

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(scope="module")
def eight_devices():
  """The mesh worker's report, run on 8 emulated CPU devices."""
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  done = subprocess.run([sys.executable, "-m", "tests.mesh_worker"], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # the 8-device worker takes ~25 s on 2 CPU cores
def test_cooperative_steps_on_8_devices_equal_one_device(eight_devices):
  assert eight_devices["devices"] == 8
  report = eight_devices["cooperative"]
  # Masks exactly; params, Adam moments and counters up to float summation
  # order, within 1e-4 of each array's largest magnitude after 4 steps.
  assert report["mask_mismatches"] == 0, report
  assert report["unequal"] == []
  assert report["max_relative_difference"] < 1e-4, report
  for mesh_kept, one_device_kept in report["kept"].values():
    assert mesh_kept == one_device_kept


@pytest.mark.slow  # the 8-device worker takes ~25 s on 2 CPU cores
def test_a_baselines_masked_step_on_8_devices_equals_one_device(eight_devices):
  report = eight_devices["dns"]  # DNS: mask surgery every step
  assert report["mask_mismatches"] == 0, report
  assert report["unequal"] == []
  assert report["max_relative_difference"] < 1e-4, report


@pytest.mark.slow  # the 8-device worker takes ~25 s on 2 CPU cores
def test_masks_are_sharded_like_their_params(eight_devices):
  assert eight_devices["sharded_mask_spec"] == "P(None, None, None, 'data')"
  assert eight_devices["replicated_mask_spec"] == "P()"


@pytest.mark.slow  # the 8-device worker takes ~25 s on 2 CPU cores
def test_topk_of_a_sharded_parameter_is_the_layers_topk(eight_devices):
  assert eight_devices["topk_exact"] == [True, True]


@pytest.mark.slow  # the 8-device worker takes ~25 s on 2 CPU cores
def test_evaluation_split_over_the_mesh_counts_every_example_once(
    eight_devices):
  local, placed = eight_devices["evaluation"]
  assert placed == local and 0 < local < 1


@pytest.mark.slow  # the 8-device worker takes ~25 s on 2 CPU cores
def test_bad_mesh_input_is_refused_with_a_clear_error(eight_devices):
  batch, no_axis, no_match = eight_devices["errors"]
  assert "12 examples does not split over 8 devices" in batch
  assert "'fc2/bias'" in no_axis and "divisible by 8" in no_axis
  assert "'conv9' matches no array" in no_match


@pytest.mark.slow  # ~40 s; the 8-device tests cover the steps on a mesh
def test_the_pipeline_runs_on_a_mesh_from_the_command_line(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu")
  done = subprocess.run(
      [sys.executable, "-m", "tests.mesh_worker", "pipeline", str(tmp_path)],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  report = json.loads(done.stdout.strip().splitlines()[-1])
  one, two = report["None"], report["2"]
  assert one["kept"] == two["kept"]
  # Same computation up to float summation order: first epochs agree
  # closely (later ones drift apart, as any change of summation order does).
  assert set(one["first_epoch_loss"]) == set(two["first_epoch_loss"])
  for phase, loss in one["first_epoch_loss"].items():
    assert two["first_epoch_loss"][phase] == pytest.approx(loss, rel=1e-3), phase
  assert report["indivisible"] == 2  # batch of 9 on 2 devices: clear error


def first_epoch_losses(workdir):
  first = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      first.setdefault(record["phase"], record.get(
          "train_loss", record.get("target_loss")))
  return first


@pytest.mark.slow  # ~50 s on 2 CPU cores
def test_two_processes_train_as_one_host_would(tmp_path):
  from coprune_jax import cli
  from tests.pipeline_configs import OFFLINE_CONFIG, TINY
  sets = [x for item in TINY for x in ("--set", item)]
  run = ["run", OFFLINE_CONFIG, "--no-progress"] + sets
  assert cli.main(run + ["--workdir", str(tmp_path / "one")]) == 0
  with socket.socket() as s:  # a free port for the coordinator
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  workers = [subprocess.Popen(
      [sys.executable, "-m", "coprune_jax.cli"] + run + [
          "--workdir", str(tmp_path / "two"), "--devices", "2",
          "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
          "--process-id", str(i)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  outputs = [w.communicate(timeout=900) for w in workers]
  for worker, (_, err) in zip(workers, outputs):
    assert worker.returncode == 0, err[-3000:]
  assert "report:" in outputs[0][0] and "report:" not in outputs[1][0]
  with open(tmp_path / "two" / "report.json") as f:
    two = json.load(f)
  with open(tmp_path / "one" / "report.json") as f:
    one = json.load(f)
  assert (two["seeds"]["0"]["coprune_model"]["kept_total"]
          == one["seeds"]["0"]["coprune_model"]["kept_total"])
  reference = first_epoch_losses(tmp_path / "one")
  for phase, loss in first_epoch_losses(tmp_path / "two").items():
    assert loss == pytest.approx(reference[phase], rel=1e-3), phase
  # One writer: as many metric records as the one-process run.
  count = lambda d: len((tmp_path / d / "metrics.jsonl").read_text().splitlines())
  assert count("two") == count("one")
  assert (tmp_path / "two" / "seed_0" / "pretrain").is_dir()  # orbax


def test_a_one_device_mesh_runs_the_step_unchanged():
  params = {"w": jax.random.normal(jax.random.key(0), (6, 3))}
  ratios = cj.keep_ratio_tree(params, 0.5)

  def apply_fn(p, x):
    return x @ p["w"]

  coprune = cj.published_coprune(ratios,
                                 cj.classification_objective(apply_fn))
  state = coprune.init(params, params, alpha=0.5)
  reference = coprune.init(params, params, alpha=0.5)
  mesh = sharding.data_mesh(1)
  shardings = sharding.state_shardings(state, mesh)
  step = sharding.sharded_step(coprune.step, shardings, mesh)
  batch = (jnp.ones((4, 6)), jnp.array([0, 1, 2, 0]))
  state, _ = step(jax.device_put(state, shardings),
                  *sharding.global_batch((batch, batch), mesh))
  reference, _ = coprune.step(reference, batch, batch)
  np.testing.assert_allclose(state.target_params["w"],
                             reference.target_params["w"], rtol=1e-6)
  np.testing.assert_array_equal(state.target_masks["w"],
                                reference.target_masks["w"])
  with pytest.raises(ValueError, match="num_devices"):
    sharding.data_mesh(len(jax.devices()) + 1)


def test_bad_device_flags_end_with_a_clear_error(tmp_path, capsys):
  from coprune_jax import cli
  from experiments import run_table
  from tests.pipeline_configs import OFFLINE_CONFIG
  assert cli.main(["run", OFFLINE_CONFIG, "--workdir", str(tmp_path / "a"),
                   "--shard", "fc1"]) == 2
  assert "need a device count" in capsys.readouterr().err
  assert run_table.main(["--quick", "--workdir", str(tmp_path / "b"),
                         "--devices", "99"]) == 2
  assert "num_devices must be in" in capsys.readouterr().err
  assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
