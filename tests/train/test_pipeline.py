import importlib.metadata
import json
import os
import shlex
import signal
import sys

import jax
import jax.numpy as jnp
import pytest

import coprune_jax as cj
from coprune_jax import cli
from coprune_jax.train import config_files
from coprune_jax.train import phases
from coprune_jax.train import run
from coprune_jax.train.metrics_log import MetricsLog
from tests.pipeline_configs import OFFLINE_CONFIG, TINY, tiny_config

@pytest.fixture(scope="module")
def experiment():
  return run.Experiment(tiny_config())


class Interrupted(Exception):
  pass


def interrupt_after(num_epochs):
  seen = []

  def hook(record):
    seen.append(record)
    if len(seen) == num_epochs:
      raise Interrupted()
  return hook


def read_json(path):
  with open(path) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def finished_run(experiment, tmp_path_factory):
  """(run directory, report) of the tiny experiment run once, unbroken."""
  workdir = tmp_path_factory.mktemp("whole")
  return workdir, run.train_and_evaluate(experiment.config, str(workdir),
                                         progress=False, experiment=experiment)


def test_run_reports_exact_keep_ratio_and_both_methods(experiment,
                                                       finished_run):
  workdir, report = finished_run
  model = report["model"]
  expected_kept = sum(layer["kept"] for layer in model["layers"].values())
  for method in ("coprune", "alpha0"):
    facts = report["seeds"]["0"][f"{method}_model"]
    assert facts["kept_total"] == expected_kept
    assert 0.0 <= report["summary"][f"{method}_on_target_test"]["mean"] <= 1.0
  assert report["true_keep_ratio"]["coprune"]["overall"] == [
      expected_kept / model["parameters_prunable"]]
  # The exported file is the selected pruned model, smaller than dense (on
  # this tiny MLP the zip headers weigh: ~150 bytes per array).
  params, model_state = experiment.init_weights(0)
  exported = cj.load_pruned(workdir / "seed_0" / "coprune_target.npz",
                            like={"params": params, "model_state": model_state})
  evaluate = phases.make_evaluator(experiment.classifier)
  assert evaluate((exported["params"], exported["model_state"]),
                  experiment.data.target_test) == (
                      report["seeds"]["0"]["coprune_on_target_test"])
  file_bytes = report["true_keep_ratio"]["coprune"]["file_bytes"][0]
  assert file_bytes < model["dense_float32_bytes"]
  for plot in ("loss_accuracy", "alpha_lr", "kept_per_layer", "mask_iou",
               "accuracy"):
    assert os.path.getsize(workdir / "plots" / f"{plot}.png") > 1000
  saved = read_json(workdir / "config.json")
  assert saved["methods"]["coprune"]["target"]["fusion"] == "signed"
  assert read_json(workdir / "report.json")["methods"] == [
      ["coprune", "Co-Prune"], ["alpha0", "alpha = 0 (target alone)"]]
  # The versions that can move its figures travel with the report.
  packages = report["machine"]["packages"]
  assert packages["flax"] == importlib.metadata.version("flax")
  assert {"jaxlib", "optax", "numpy"} <= set(packages)
  assert report["machine"]["cpu_model"]
  with open(workdir / "metrics.jsonl") as f:  # every epoch says what it took
    assert all(json.loads(line)["seconds"] > 0 for line in f)
  # Every finished phase keeps one checkpoint (its best weights).
  for phase in ("pretrain", "finetune", "coprune", "alpha0"):
    assert len(os.listdir(workdir / "seed_0" / phase)) == 1, phase


@pytest.mark.slow  # ~20 s on 2 CPU cores: keeps the default suite in budget
def test_resumed_run_equals_uninterrupted_run(experiment, finished_run,
                                              tmp_path):
  whole, parts = str(finished_run[0]), str(tmp_path / "parts")
  # Stop inside Co-Prune's first stage, then inside alpha = 0's second.
  for resume, stop_after in ((False, 7), (True, 12)):
    with pytest.raises(Interrupted):
      run.train_and_evaluate(experiment.config, parts, resume=resume,
                             progress=False, experiment=experiment,
                             on_epoch_end=interrupt_after(stop_after))
  run.train_and_evaluate(experiment.config, parts, resume=True, progress=False,
                         experiment=experiment)
  assert (read_json(f"{parts}/seed_0/results.json") ==
          read_json(f"{whole}/seed_0/results.json"))
  # One line per epoch, as if never interrupted.
  assert epoch_keys(f"{parts}/metrics.jsonl") == epoch_keys(
      f"{whole}/metrics.jsonl")


def epoch_keys(path):
  with open(path) as f:
    records = [json.loads(line) for line in f]
  return [(r["seed"], r["phase"], r["stage"], r["epoch"]) for r in records]


def test_cli_refuses_to_overwrite_and_checks_the_config(tmp_path, capsys):
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config_files.to_json(tiny_config()))
  before = os.listdir(workdir)
  args = ["run", OFFLINE_CONFIG, "--workdir", workdir, "--no-progress"]
  args += [a for o in TINY for a in ("--set", o)]
  assert cli.main(args) == 2
  assert "pass --resume" in capsys.readouterr().err
  assert cli.main(args + ["--resume", "--set",
                          "methods.coprune.target.fusion=magnitude"]) == 2
  assert ("another config (methods.coprune.target.fusion: 'signed' -> "
          "'magnitude'); resume" in capsys.readouterr().err)
  assert os.listdir(workdir) == before


@pytest.mark.parametrize("override,message", [
    ("source.kind=imagenet", "unknown domain kind 'imagenet'"),
    ("source.kind=tfds", "domain kind 'tfds' needs the field 'name'"),
    ("target.kind=usps_h5", "domain kind 'usps_h5' needs the field 'path'"),
    ("prune.keep_ratios=[('fc1/kernel', 0.1), ('.*', 1.5)]",
     "keep ratio of rule '.*' must be in (0, 1]"),
    ("prune.keep_ratios=[('conv9/kernel', 0.1)]",
     "'conv9/kernel' matches no prunable parameter"),
    ("prune.alphas=(0.7, 1.3)", "alpha at stage 1 must be in [0, 1]"),
    ("methods.coprune.alpha_candidates=(0.3, 1.2)",
     "method 'coprune': alpha_candidates must be a tuple of numbers in "
     "[0, 1], got (0.3, 1.2)"),
    ("methods.coprune.alpha_probe_epochs=0",
     "method 'coprune': alpha_probe_epochs must be an integer >= 1"),
    ("methods.alpha0.source_steps=0",
     "method 'alpha0': source_steps must be an integer >= 1"),
    ("methods.coprune.target.name='magnitudes'",
     "method 'coprune': unknown pruner 'magnitudes'"),
    ("methods.coprune.target.hysteresis=1.5",
     "method 'coprune': hysteresis must be in [0, 1)"),
    ("methods.coprune.nonsense=1",
     "method 'coprune': unknown cooperative options ['nonsense']"),
    ("methods.coprune.kind='joint'",
     "method 'coprune': kind must be one of"),
    ("compare=('coprune', 'lwc')",
     "compare names methods that `methods` does not define: ['lwc']"),
    ("prune.patience_steps=-1", "prune.patience_steps must be an integer >= 0"),
    ("prune.max_steps_per_stage=-5",
     "prune.max_steps_per_stage must be an integer >= 0"),
    ("align.source_drop=('frog',)", "has no class 'frog'"),
    ("methods.coprune.target.fusion='average'", "fusion must be one of"),
    ("model.name=vgg", "unknown model 'vgg'"),
    ("prune.nonsense=1", "unknown config key 'prune.nonsense'"),
    ("finetune.epochs=many",
     "bad value for 'finetune.epochs': expected an integer, got 'many'"),
    ("prune.keep_ratios='most'", "keep ratios must be a number, a dict"),
    ("finetune.batch_size=0", "finetune.batch_size must be an integer >= 1"),
    ("pretrain.epochs=-1", "pretrain.epochs must be an integer >= 1"),
    ("prune.learning_rate=0.0", "prune.learning_rate must be a number > 0"),
    ("prune.factor=1.0", "prune.factor must be a number in (0, 1)"),
    ("source.val_fraction=0.0", "source.val_fraction must be a number in"),
    ("target.labels_per_class=0", "target.labels_per_class must be an"),
    ("seeds=()", "seeds must be a non-empty tuple"),
    ("model.kwargs={'hidden': 32}", "hidden"),
    ("model.kwargs={'depth': 3}", "depth"),
])
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(
    override, message, tmp_path, capsys):
  workdir = tmp_path / "run"
  args = ["run", OFFLINE_CONFIG, "--workdir", str(workdir), "--no-progress",
          "--data-root", str(tmp_path / "no_data")]
  args += [a for o in TINY + [override] for a in ("--set", o)]
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and "\n" not in err, err
  assert not workdir.exists()


def test_cli_report_of_no_run(tmp_path, capsys):
  assert cli.main(["report", "--workdir", str(tmp_path)]) == 2
  assert "is it a run directory?" in capsys.readouterr().err


@pytest.mark.parametrize("workdir", ["missing", "empty"])
def test_cli_resume_of_no_run_is_refused(workdir, tmp_path, capsys):
  os.makedirs(tmp_path / "empty")
  args = ["run", OFFLINE_CONFIG, "--workdir", str(tmp_path / workdir),
          "--resume"] + [a for o in TINY for a in ("--set", o)]
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip()
  assert "cannot resume" in err and "no config.json" in err, err
  assert sorted(os.listdir(tmp_path)) == ["empty"]
  assert not os.listdir(tmp_path / "empty")


def test_sigterm_interrupts_like_ctrl_c_within_the_cli():
  before = signal.getsignal(signal.SIGTERM)
  with cli.sigterm_as_interrupt():
    # Checked first: the signal's default action would end the test run.
    assert callable(signal.getsignal(signal.SIGTERM))
    with pytest.raises(KeyboardInterrupt):
      signal.raise_signal(signal.SIGTERM)
  assert signal.getsignal(signal.SIGTERM) == before


def press_ctrl_c():
  raise KeyboardInterrupt


def send_sigterm():
  signal.raise_signal(signal.SIGTERM)


@pytest.mark.slow  # 6-8 s each: with the slow tests, for the default budget
@pytest.mark.parametrize("stop", [press_ctrl_c, send_sigterm])
def test_cli_interrupt_prints_the_command_that_continues(tmp_path, capsys,
                                                         monkeypatch, stop):
  workdir = str(tmp_path / "run")
  args = ["finetune", OFFLINE_CONFIG, "--workdir", workdir, "--no-progress"]
  args += [a for o in TINY for a in ("--set", o)]
  end_epoch = phases.PhaseContext.end_epoch
  epochs = []
  def stop_in_fine_tuning(ctx, record):
    end_epoch(ctx, record)
    epochs.append(record)
    if len(epochs) == 4:  # in seed 0's fine-tuning
      stop()
  monkeypatch.setattr(phases.PhaseContext, "end_epoch", stop_in_fine_tuning)
  assert cli.main(args) == 130
  err = capsys.readouterr().err.strip()
  assert err.startswith("coprune: interrupted; continue with: coprune "
                        "finetune ")
  assert "\n" not in err
  monkeypatch.undo()
  # The interrupted run's curves so far.
  assert cli.main(["report", "--workdir", workdir]) == 0
  out = capsys.readouterr().out
  assert "has not finished" in out and "seed 0 finetune" in out, out
  assert os.path.getsize(os.path.join(workdir, "plots",
                                      "loss_accuracy.png")) > 1000
  command = shlex.split(err.split("continue with: ")[1])
  assert command[-1] == "--resume"
  assert cli.main(command[1:]) == 0
  keys = epoch_keys(os.path.join(workdir, "metrics.jsonl"))
  assert keys == [(0, "pretrain", 0, 1), (0, "pretrain", 0, 2)] + [
      (0, "finetune", 0, e) for e in (1, 2, 3)]


@pytest.mark.parametrize("form", ["0.2", "{'.*': 0.2}", "[('.*', 0.2)]"])
def test_keep_ratios_on_the_command_line_in_every_form(form):
  config = tiny_config(f"prune.keep_ratios={form}")
  assert [tuple(r) for r in config.prune.keep_ratios] == [(".*", 0.2)]


def test_cli_inconsistent_label_spaces(tmp_path, capsys):
  args = ["run", OFFLINE_CONFIG, "--workdir", str(tmp_path / "run")]
  for o in TINY + ["align.target_rename={'3': 'three'}"]:
    args += ["--set", o]
  assert cli.main(args) == 2
  assert "inconsistent label spaces" in capsys.readouterr().err


def test_cli_without_the_experiment_extra_names_it(tmp_path, capsys,
                                                   monkeypatch):
  # As if never imported (the package attribute too, restored afterwards).
  monkeypatch.setattr(cj, "train", sys.modules["coprune_jax.train"])
  for name in [m for m in sys.modules if m.startswith("coprune_jax.train")]:
    monkeypatch.delitem(sys.modules, name)
  monkeypatch.setitem(sys.modules, "ml_collections", None)
  assert cli.main(["run", OFFLINE_CONFIG, "--workdir",
                   str(tmp_path / "run")]) == 2
  err = capsys.readouterr().err.strip()
  assert err == ("coprune: error: coprune run needs ml_collections, which is "
                 "not installed: pip install 'coprune-jax[experiments]'")


def test_cli_help_explains_the_commands(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--help"])
  assert exit_info.value.code == 0
  out = capsys.readouterr().out
  for word in ("run", "report", "resume", "Co-Prune"):
    assert word in out


def test_cli_missing_data_file(tmp_path, capsys):
  config = os.path.join(os.path.dirname(OFFLINE_CONFIG), "usps_mnistm.py")
  args = ["run", config, "--workdir", str(tmp_path / "run"), "--data-root",
          str(tmp_path / "nowhere")]
  assert cli.main(args) == 2
  assert "usps_h5 file not found" in capsys.readouterr().err
  assert not (tmp_path / "run").exists()


@pytest.mark.slow  # ~70 s on 2 CPU cores: compiling ResNet-18's programs
def test_batchnorm_model_state_flows_through_every_phase(tmp_path):
  config = tiny_config("model.name=resnet18",
                       "model.kwargs={'width': 4, 'stem': 'cifar'}",
                       "compare=('coprune',)",
                       "prune.max_epochs_per_stage=2")
  report = run.train_and_evaluate(config, str(tmp_path), progress=False)
  assert 0.0 <= report["summary"]["coprune_on_target_test"]["mean"] <= 1.0
  model = report["model"]
  assert report["seeds"]["0"]["coprune_model"]["kept_total"] == sum(
      layer["kept"] for layer in model["layers"].values())


def test_dense_training_adds_the_penalty_to_the_loss(experiment, tmp_path):
  def train(name, penalty):
    ctx = phases.PhaseContext(experiment.classifier, 0, str(tmp_path / name),
                              MetricsLog(str(tmp_path / f"{name}.jsonl")),
                              progress=False)
    data = experiment.data
    return phases.train_dense(name, ctx, experiment.init_weights(0),
                              data.target_train, data.target_val, 2, 10, 1e-2,
                              penalty)
  squares = lambda p: sum(jnp.sum(w ** 2) for w in jax.tree.leaves(p))
  plain = train("plain", None)
  decayed = train("decayed", lambda p: 10.0 * squares(p))
  # Adam moves each weight by about the learning rate per step whatever the
  # gradient scale: 10 steps shrink the squares by about half.
  assert float(squares(decayed[0])) < 0.75 * float(squares(plain[0]))


def test_runs_written_before_a_setting_existed_resume_with_its_old_value(
    tmp_path):
  config = tiny_config()
  workdir = str(tmp_path / "run")
  run.prepare_workdir(workdir, config, resume=False)
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  del saved["prune"]["target_start"]  # as written before the setting
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(saved, f)
  run.prepare_workdir(workdir, config, resume=True)  # the old value: same
  config.prune.target_start = "source"
  with pytest.raises(config_files.ConfigError,
                     match="prune.target_start: 'finetuned' -> 'source'"):
    run.prepare_workdir(workdir, config, resume=True)
