import json
import os

import pytest

from experiments import structured_domains
from tests.pipeline_configs import OFFLINE_CONFIG

# A tiny LeNet-5 run of the offline default: seconds, not minutes.
TINY = [
    "checkpoint_every_seconds=0.0", "source.num_train=300",
    "source.num_test=60", "target.labels_per_class=5",
    "target.val_per_class=3", "pretrain.epochs=1", "pretrain.batch_size=50",
    "finetune.epochs=1", "finetune.batch_size=10", "prune.alphas=(0.7, 0.3)",
    "prune.max_epochs_per_stage=2", "prune.batch_size=10"]


def _run(workdir, *flags):
  argv = [OFFLINE_CONFIG, "--workdir", str(workdir), "--no-progress",
          "--fractions", "0.5", *flags]
  for override in TINY:
    argv += ["--set", override]
  return structured_domains.main(argv)


def _phases(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return {json.loads(line)["phase"] for line in f}


@pytest.mark.slow  # ~40 s on 2 CPU cores
def test_channel_methods_shrink_the_model_and_reuse_a_start(tmp_path):
  first, second = tmp_path / "first", tmp_path / "second"
  assert _run(first, "--methods", "coprune") == 0
  assert _run(second, "--methods", "fixed", "--start-from", str(first)) == 0
  # The second run copied the first's source and target, trained neither.
  assert _phases(second) == {"fixed_l1_0.5"}
  assert {"pretrain", "finetune", "coprune_l1_0.5"} <= _phases(first)
  for workdir in (first, second):
    with open(workdir / "structured_domains_seed0.json") as f:
      dense, pruned = json.load(f)["rows"]
    assert pruned["widths"] == [max(1, round(w / 2)) for w in dense["widths"]]
    assert pruned["params"] < 0.3 * dense["params"]
    # The smaller network computes what the channel-masked one computes.
    assert pruned["test"] == pruned["masked_test"]
  summary = (first / "structured_domains.md").read_text()
  assert summary.count("| 50% |") == 1 and "seeds [0]" in summary


@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
def test_bad_input_is_refused(tmp_path, capsys):
  assert _run(tmp_path / "a", "--fractions", "0") == 2
  assert "fractions" in capsys.readouterr().err
  assert _run(tmp_path / "b", "--start-from", str(tmp_path / "none")) == 2
  assert "no pretrain checkpoints" in capsys.readouterr().err
  # tmp_path/b now holds that config: another one is refused.
  assert _run(tmp_path / "b", "--set", "prune.learning_rate=0.5") == 2
  assert "another config" in capsys.readouterr().err


def test_summary_gives_mean_and_std_over_seeds(tmp_path):
  def row(method, fraction, test):
    return {"method": method, "fraction": fraction, "widths": [4],
            "params": 100 * fraction, "kernel_macs": 10 * fraction,
            "test": test, "masked_test": test}
  for seed, test in ((0, 0.70), (1, 0.74)):
    with open(tmp_path / f"structured_domains_seed{seed}.json", "w") as f:
      json.dump({"setting": "s", "seed": seed,
                 "rows": [row("dense", 1.0, 0.8), row("coprune", 0.5, test)]},
                f)
  summary = structured_domains.summarize(str(tmp_path))
  assert "| coprune | 50% | [4] | 50.0% | 50.0% | 72.00 +- 2.83 | 2 | " \
         "70.00, 74.00 | yes |" in summary
