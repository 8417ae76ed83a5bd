"""experiments/bench_pruners.py end to end on random images (no data)."""

import json

import pytest

from coprune_jax.train import checkpoints
from coprune_jax.train import report
from experiments import bench_pruners


@pytest.mark.slow  # ~30 s on 2 CPU cores
def test_every_run_lands_on_its_budget_and_is_not_redone(tmp_path):
  args = ["--synthetic", "--quick", "--workdir", str(tmp_path / "runs"),
          "--out", str(tmp_path / "out"), "--settings", "1.35",
          "--methods", "dense", "gradual_magnitude", "rigl"]
  assert bench_pruners.main(args) == 0
  out = json.loads((tmp_path / "out.json").read_text())
  # The machine is recorded as the run reports and tables record it.
  assert out["machine"]["packages"]["jaxlib"]
  assert report.cpu_model() in (tmp_path / "out.md").read_text()
  by_method = {r["method"]: r for r in out["runs"]}
  assert by_method["dense"]["kept"] is None
  for method in ("gradual_magnitude", "rigl"):
    run = by_method[method]
    assert 0.013 < run["kept"] / run["prunable"] < 0.014
    assert 0 <= run["test_accuracy"] <= 1
  # Mask churn per epoch: none for dense training, none for gradual
  # magnitude pruning once its schedule has ended (with epoch 1 of 2; 68
  # weights came back in epoch 2 before 9eb890a); RigL swaps weights.
  assert [p["regrown"] for p in by_method["dense"]["curve"]] == [None] * 2
  assert by_method["gradual_magnitude"]["curve"][1]["regrown"] == 0
  assert by_method["rigl"]["curve"][0]["regrown"] > 0
  first = {p.name: p.read_text() for p in (tmp_path / "runs").iterdir()}
  assert bench_pruners.main(args) == 0  # every run read back, none redone
  assert {p.name: p.read_text() for p in (tmp_path / "runs").iterdir()} == first
  assert "| rigl | " in (tmp_path / "out.md").read_text()


@pytest.mark.slow  # ~10 s on 2 CPU cores
def test_dense_training_runs_once_for_every_setting(tmp_path):
  assert bench_pruners.main([
      "--synthetic", "--quick", "--workdir", str(tmp_path / "runs"), "--out",
      str(tmp_path / "out"), "--settings", "1.35", "10.4", "--methods",
      "dense"]) == 0
  assert [p.name.split("_")[0] for p in (tmp_path / "runs").iterdir()] == [
      "any"]
  runs = json.loads((tmp_path / "out.json").read_text())["runs"]
  assert [r["setting"] for r in runs] == ["1.35", "10.4"]
  assert runs[0]["test_accuracy"] == runs[1]["test_accuracy"]


def test_missing_data_is_a_one_line_error(tmp_path, capsys):
  assert bench_pruners.main(["--data-root", str(tmp_path),
                             "--workdir", str(tmp_path / "w")]) == 2
  assert "cifar10_jpeg.npz not found" in capsys.readouterr().err


@pytest.mark.slow  # ~10 s on 2 CPU cores
def test_time_budget_starts_no_run_past_it_and_keeps_the_finished_ones(
    tmp_path):
  args = ["--synthetic", "--quick", "--workdir", str(tmp_path / "runs"),
          "--out", str(tmp_path / "out"), "--settings", "1.35"]
  assert bench_pruners.main(args + ["--methods", "dense"]) == 0
  # A spent budget: the finished run is read back, no other one starts
  # (rigl comes before dense here: a skipped run stops nothing after it).
  assert bench_pruners.main(args + ["--methods", "rigl", "dense",
                                    "--time-budget", "0"]) == 0
  runs = json.loads((tmp_path / "out.json").read_text())["runs"]
  assert [r["method"] for r in runs] == ["dense"]
  assert len(list((tmp_path / "runs").iterdir())) == 1
  assert "| rigl |  |" in (tmp_path / "out.md").read_text()


class _Killed(Exception):
  pass


@pytest.mark.slow  # ~60 s on 2 CPU cores shared with another job
def test_an_interrupted_run_goes_on_from_its_checkpoint_to_the_same_result(
    tmp_path, monkeypatch):
  splits = bench_pruners.cifar10_splits("", synthetic=True)
  run = lambda **kw: bench_pruners.train_one("rigl", "1.35", 0, splits, 3,
                                             batch_size=64, **kw)
  whole = run()
  # Killed right after its first checkpoint (epoch 1), then started again.
  save = checkpoints.PhaseCheckpoints.save

  def save_then_die(self, *args):
    save(self, *args)
    raise _Killed()
  monkeypatch.setattr(checkpoints.PhaseCheckpoints, "save", save_then_die)
  with pytest.raises(_Killed):
    run(checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=0.0)
  monkeypatch.setattr(checkpoints.PhaseCheckpoints, "save", save)
  trained = []
  monkeypatch.setattr(bench_pruners.pipeline, "batches",
                      _counting(bench_pruners.pipeline.batches, trained))
  resumed = run(checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=0.0)
  assert len([t for t in trained if t]) == 2  # epochs 2 and 3 only
  for key in ("curve", "test_accuracy", "val_accuracy", "selected_epoch",
              "kept"):
    assert resumed[key] == whole[key], key


def _counting(batches, calls):
  """`batches`, noting for each call whether it was a training epoch's."""
  def counted(split, batch_size, rng, *args):
    calls.append(rng is not None)
    return batches(split, batch_size, rng, *args)
  return counted
