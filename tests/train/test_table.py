import csv
import glob
import importlib.metadata
import json
import os

import jax
import pytest

import coprune_jax as cj
from coprune_jax import cli
from coprune_jax import models
from coprune_jax.train import config_files
from coprune_jax.train import methods
from coprune_jax.train import run
from coprune_jax.train import table
from coprune_jax.train import table_report
from tests.pipeline_configs import COMMON
from tests.pipeline_configs import TINY
from tests.pipeline_configs import tiny_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "experiments",
                       "configs")
SETTING = ("20", [("conv1/kernel", 0.5), (".*", 0.2)])


def tiny_table(*methods_run, settings=(SETTING,)):
  config = tiny_config("model.name=lenet5", "model.kwargs={}",
                       "input.image_size=12", "source.image_size=12",
                       "prune.alphas=(0.7,)", "prune.max_epochs_per_stage=2")
  config.methods = COMMON.METHODS
  config.methods.obd.target.probes = 4
  config.table = dict(name="tiny", methods=tuple(methods_run),
                      keep_settings=list(settings))
  return config


def phases_seen():
  seen = set()
  return seen, lambda record: seen.add(record["phase"])


@pytest.mark.slow  # ~2 minutes on 2 CPU cores
def test_every_method_runs_from_one_start_with_its_true_kept_ratio(tmp_path):
  config = tiny_table(*COMMON.ALL_METHODS)
  cells = table.run_table(config, str(tmp_path / "run"),
                          str(tmp_path / "results"), progress=False)
  by_method = {c["method"]: c for c in cells}
  assert set(by_method) == set(COMMON.ALL_METHODS) | {"finetuned",
                                                       "source"}
  for dense in (by_method.pop("finetuned"), by_method.pop("source")):
    assert dense["model"]["kept_total"] == dense["model"]["prunable_total"]
  exact = by_method["lwc"]["model"]["kept_total"]
  for method, cell in by_method.items():
    assert 0.0 <= cell["on_target_test"] <= 1.0
    kept, total = cell["model"]["kept_total"], cell["model"]["prunable_total"]
    if method == "distillation":  # the slim student's parameter count
      assert cell["setting"] == "any"
      assert abs(kept / total - 0.104) < 0.02, kept / total
    elif method in ("dns", "ddc_dns"):  # on the budget, within 2%
      assert abs(kept - exact) <= 0.02 * exact, (method, kept, exact)
    else:
      assert kept == exact, method
  with open(tmp_path / "results" / "tiny.csv") as f:
    rows = list(csv.DictReader(f))
  assert {r["method"] for r in rows} == set(COMMON.ALL_METHODS) | {
      "finetuned", "source"}
  markdown = (tmp_path / "results" / "tiny.md").read_text()
  assert "| L-OBS |" in markdown and "distillation (slim net):" in markdown
  sections = markdown.split("## Paired with ")
  references = ["Co-Prune", "alpha = 0 (target alone)", "DNS"]
  assert [s.split("\n")[0] for s in sections[1:]] == references
  for section, reference in zip(sections[1:], references):
    assert "| LWC | " in section and f"| {reference} |" not in section
  assert "| Co-Prune |" in sections[2] and "| Co-Prune |" in sections[3]
  assert (tmp_path / "results" / "tiny_paired.csv").exists()
  assert (tmp_path / "results" / "tiny.png").stat().st_size > 1000


@pytest.mark.slow  # ~40 s on 2 CPU cores
def test_resumed_table_only_runs_missing_cells(tmp_path):
  workdir, results = str(tmp_path / "run"), str(tmp_path / "results")
  table.run_table(tiny_table("lwc"), workdir, results, progress=False)
  cell_file = tmp_path / "run" / "cells" / "20" / "lwc" / "seed_0.json"
  first = json.loads(cell_file.read_text())
  seen, hook = phases_seen()
  cells = table.run_table(tiny_table("lwc", "alpha0"), workdir, results,
                          resume=True, progress=False, on_epoch_end=hook)
  assert seen == {"20/alpha0"}  # no pretraining, fine-tuning or LWC again
  assert json.loads(cell_file.read_text()) == first
  assert [c["method"] for c in cells] == ["source", "finetuned", "lwc",
                                          "alpha0"]
  # A seed more: its cells run, seed 0's stay.
  more_seeds = tiny_table("lwc", "alpha0")
  more_seeds.seeds = (0, 1)
  seen, hook = phases_seen()
  cells = table.run_table(more_seeds, workdir, results, resume=True,
                          progress=False, on_epoch_end=hook)
  assert seen == {"pretrain", "finetune", "20/lwc", "20/alpha0"}
  assert json.loads(cell_file.read_text()) == first
  assert [(c["method"], c["seed"]) for c in cells] == [
      (m, seed) for seed in (0, 1)
      for m in ("source", "finetuned", "lwc", "alpha0")]


@pytest.mark.slow  # ~25 s on 2 CPU cores
def test_report_only_tables_the_finished_cells_and_runs_nothing(tmp_path):
  workdir, results = str(tmp_path / "run"), str(tmp_path / "results")
  with pytest.raises(config_files.ConfigError, match="no table run"):
    table.run_table(tiny_table("lwc"), workdir, results, report_only=True)
  table.run_table(tiny_table("lwc"), workdir, results, progress=False)
  stale = tmp_path / "results" / "tiny_paired.csv"  # of a table with Co-Prune
  stale.write_text("setting,method\n")
  seen, hook = phases_seen()
  cells = table.run_table(tiny_table("lwc", "dns"), workdir, results,
                          on_epoch_end=hook, report_only=True)
  assert not seen
  assert not stale.exists()
  assert [c["method"] for c in cells] == ["source", "finetuned", "lwc"]
  markdown = (tmp_path / "results" / "tiny.md").read_text()
  assert "| LWC |" in markdown
  assert "source model alone, dense (no target training): " in markdown


@pytest.mark.slow  # ~25 s on 2 CPU cores
def test_changed_keep_ratios_under_an_old_name_are_refused(tmp_path):
  workdir, results = str(tmp_path / "run"), str(tmp_path / "results")
  table.run_table(tiny_table("lwc"), workdir, results, progress=False)
  changed = ("20", [(".*", 0.3)])
  with pytest.raises(config_files.ConfigError, match="keep ratios"):
    table.run_table(tiny_table("lwc", settings=(changed,)), workdir, results,
                    resume=True, progress=False)


@pytest.mark.parametrize("methods_run, settings, message", [
    (("lwc", "magic"), (SETTING,), "does not define: \\['magic'\\]"),
    (("lwc",), (SETTING, SETTING), "distinct"),
    (("lwc",), (("any", SETTING[1]),), "reserved"),
    (("lwc",), (("a/b", SETTING[1]),), "folder"),
])
def test_bad_table_configs_are_refused(tmp_path, methods_run, settings,
                                       message):
  with pytest.raises(config_files.ConfigError, match=message):
    table.run_table(tiny_table(*methods_run, settings=settings),
                    str(tmp_path / "run"), str(tmp_path / "results"),
                    progress=False)
  assert not (tmp_path / "run").exists()


def test_paired_differences_subtract_the_reference_seed_by_seed():
  def cell(method, seed, accuracy, setting="10"):
    return {"setting": setting, "method": method, "seed": seed,
            "on_target_test": accuracy}
  cells = [cell("coprune", 0, 0.60), cell("coprune", 1, 0.70),
           cell("lwc", 0, 0.62), cell("lwc", 1, 0.66), cell("lwc", 2, 0.9),
           cell("dns", 1, 0.75), cell("dns", 0, 0.5, setting="1")]
  rows = table_report.paired_differences(
      cells, "coprune", ["finetuned", "coprune", "lwc", "dns"], ["10", "1"])
  by_method = {r["method"]: r for r in rows}
  assert set(by_method) == {"lwc", "dns"}  # no coprune cell at setting "1"
  lwc = by_method["lwc"]  # seed 2 has no Co-Prune cell: left out
  assert lwc["seeds"] == 2 and lwc["seeds_ahead_of_reference"] == 1
  assert lwc["difference_mean"] == pytest.approx(-0.01)
  assert lwc["difference_std"] == pytest.approx(0.06 / 2 ** 0.5)
  assert by_method["dns"]["difference_mean"] == pytest.approx(0.05)
  assert by_method["dns"]["difference_std"] == 0.0


def test_test_selected_figures_get_their_own_labelled_table(tmp_path):
  def cell(method, seed, accuracy, test_selected=None):
    c = {"setting": "20", "method": method, "seed": seed,
         "on_target_test": accuracy, "on_target_val": accuracy,
         "selected_stage": 0,
         "model": {"kept_total": 1, "prunable_total": 10}}
    if test_selected is not None:
      c[table_report.TEST_SELECTED] = test_selected
    return c
  cells = [cell("finetuned", 0, 0.9), cell("coprune", 0, 0.6, 0.65),
           cell("coprune", 1, 0.7, 0.75), cell("lwc", 0, 0.5, 0.52)]
  config = tiny_table("coprune", "lwc")
  table_report.write_table(cells, config, str(tmp_path))
  markdown = (tmp_path / "tiny.md").read_text()
  # The header names the versions that can move its figures.
  assert f"flax {importlib.metadata.version('flax')}" in markdown
  ours, on_test = markdown.split("## Selected on TEST data")
  assert "| Co-Prune | 65.00 (1)" not in ours
  assert "| Co-Prune | 70.00 +- 7.07 (2)" in on_test
  assert "| LWC | 52.00 (1)" in on_test and "fine-tuned" not in on_test
  with open(tmp_path / "tiny_seeds.csv") as f:
    rows = list(csv.DictReader(f))
  assert [r[table_report.TEST_SELECTED] for r in rows] == ["", "0.65", "0.75",
                                                           "0.52"]


@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
def test_the_reference_protocol_starts_every_method_from_the_source():
  config = COMMON.reference_protocol(tiny_table("coprune"))
  experiment = run.Experiment(config)
  source, target = ("source", None), ("finetuned", None)
  start = run.method_start(experiment, 0, source, target)
  assert start.target_weights is source
  assert config.methods.coprune.target.fusion == "magnitude"
  assert start.prune.initial_masks == "pruned"
  ours = run.method_start(run.Experiment(tiny_table("coprune")), 0, source,
                          target)
  assert ours.target_weights is target


@pytest.mark.slow  # ~30 s on 2 CPU cores
def test_reference_protocol_table_reports_test_selection_beside_ours(tmp_path):
  config = COMMON.reference_protocol(tiny_table("coprune", "lwc"))
  cells = table.run_table(config, str(tmp_path / "run"),
                          str(tmp_path / "results"), progress=False)
  pruned = [c for c in cells if c["setting"] != "any"]
  assert [c["method"] for c in pruned] == ["coprune", "lwc"]
  for cell in pruned:  # the best over epochs includes the selected epoch
    assert cell[table_report.TEST_SELECTED] >= cell["on_target_test"]
  markdown = (tmp_path / "results" / "tiny.md").read_text()
  assert "## Selected on TEST data" in markdown
  assert "the methods start from the source" in markdown
  assert "mask overlap" in markdown and "Co-Prune at 20: " in markdown
  iou = pruned[0]["mask_iou"]
  assert all(0.0 <= v <= 1.0 for v in iou.values()) and "mask_iou" not in (
      pruned[1])


def test_every_method_of_the_catalogue_is_a_valid_section():
  params = {"conv": {"kernel": jax.numpy.ones((3, 3, 2, 4))}}
  ratios = cj.keep_ratio_tree(params, 0.5)
  for name, section in COMMON.METHODS.items():
    methods.check_method(name, section, params, ratios)
  labels = COMMON.labels()
  assert len(set(labels.values())) == len(labels)  # no two alike
  assert set(COMMON.ALL_METHODS) | set(COMMON.PAIR_METHODS) <= set(labels)


def test_coprune_table_runs_a_config_into_its_workdir(tmp_path, capsys):
  workdir = tmp_path / "table"
  args = ["table", os.path.join(CONFIGS, "table_offline.py"), "--workdir",
          str(workdir), "--no-progress"]
  overrides = TINY + ["table.methods=('lwc', 'random_fixed')",
                      "table.keep_settings=[('20', [('.*', 0.2)])]",
                      "table.name='tiny'",
                      # A method the catalogue lacks, defined on the command
                      # line: any registered pruner runs in a table.
                      "methods.random_fixed.label='random, fixed'",
                      "methods.random_fixed.kind='single'",
                      "methods.random_fixed.target.name='random'"]
  assert cli.main(args + [w for o in overrides for w in ("--set", o)]) == 0
  markdown = (workdir / "results" / "tiny.md").read_text()
  assert "| LWC |" in markdown and "| random, fixed |" in markdown
  # The header names the config and every override it ran with.
  assert ("table_offline.py` --set \"seeds=(0,)\"" in markdown
          and "--set \"methods.random_fixed.target.name='random'\"; "
          in markdown)
  assert "written:" in capsys.readouterr().out


def test_entry_point_needs_a_config_or_quick(tmp_path, capsys):
  from experiments import run_table
  assert run_table.main(["--workdir", str(tmp_path / "w")]) == 2
  assert "give a table config or --quick" in capsys.readouterr().err
  assert run_table.main(["missing.py", "--workdir", str(tmp_path / "w")]) == 2
  assert not (tmp_path / "w").exists()


@pytest.mark.slow  # about 5 minutes on 2 CPU cores
def test_quick_table_runs_every_method_on_the_offline_default(tmp_path):
  from experiments import run_table
  workdir = tmp_path / "quick"
  assert run_table.main(["--quick", "--workdir", str(workdir),
                         "--no-progress"]) == 0
  with open(workdir / "results" / "offline_quick_seeds.csv") as f:
    rows = list(csv.DictReader(f))
  assert {r["method"] for r in rows} == set(COMMON.ALL_METHODS) | {
      "finetuned", "source"}
  assert {r["seed"] for r in rows} == {"0", "1"}


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(CONFIGS, "table_*.py"))),
    ids=os.path.basename)
def test_shipped_table_configs_are_valid_and_named_by_their_kept_percent(path):
  config = config_files.load_config(path)
  table.check_table_config(config)
  size = config.input.image_size
  classifier = models.Classifier(
      models.make_model(config.model.name, 10, **config.model.kwargs))
  # Shapes are all the keep ratios need; eager init of a big model is slow.
  params, _ = jax.eval_shape(
      lambda: classifier.init(0, (size, size, config.input.channels)))
  for name, rules in config.table.keep_settings:
    kept = cj.overall_keep_ratio(params, cj.keep_ratio_tree(params, rules))
    assert 100 * kept == pytest.approx(float(name), rel=0.1), name


def test_pair_configs_take_a_label_budget_and_a_protocol():
  path = os.path.join(CONFIGS, "table_mnist_usps.py")
  config = config_files.load_config(path + ":7,reference")
  assert config.target.labels_per_class == 7
  assert config.target.val_per_class == 10
  assert config.table.name == "mnist_usps_7_reference"
  assert config.prune.target_start == "source"
  assert config.config_file.endswith("table_mnist_usps.py:7,reference")
  for bad in (":0", ":abc", ":30,paper"):
    with pytest.raises(config_files.ConfigError, match="labels per class"):
      config_files.load_config(path + bad)


def test_every_method_is_paired_with_coprune_alpha0_and_dns(tmp_path):
  def cell(method, seed, accuracy):
    return {"setting": "20", "method": method, "seed": seed,
            "on_target_test": accuracy, "on_target_val": accuracy,
            "selected_stage": 0,
            "model": {"kept_total": 1, "prunable_total": 10}}
  cells = [cell(m, s, a) for m, accuracies in (
      ("coprune", (0.60, 0.70)), ("alpha0", (0.65, 0.66)),
      ("lwc", (0.50, 0.80))) for s, a in enumerate(accuracies)]
  table_report.write_table(cells, tiny_table("coprune", "alpha0", "lwc"),
                           str(tmp_path))
  markdown = (tmp_path / "tiny.md").read_text()
  with_coprune, with_alpha0 = markdown.split("## Paired with ")[1:]
  assert with_alpha0.startswith("alpha = 0 (target alone)")  # no DNS here
  assert "| Co-Prune | -0.50 +- 6.36 (2); ahead 1/2 |" in with_alpha0
  assert "| LWC | -0.50 +- 20.51 (2); ahead 1/2 |" in with_alpha0
  assert "| alpha = 0 (target alone) | +0.50" in with_coprune
  with open(tmp_path / "tiny_paired.csv") as f:
    references = [r["reference"] for r in csv.DictReader(f)]
  assert references == ["coprune"] * 2 + ["alpha0"] * 2
