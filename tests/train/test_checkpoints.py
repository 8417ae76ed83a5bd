import glob
import os

import numpy as np
import pytest

from coprune_jax import cli
from coprune_jax.train import phases
from coprune_jax.train.checkpoints import PhaseCheckpoints
from coprune_jax.train.config_files import ConfigError
from tests.pipeline_configs import OFFLINE_CONFIG, TINY


def truncate_arrays(step_dir):
  files = glob.glob(os.path.join(step_dir, "state", "**", "d", "*"),
                    recursive=True)
  assert files
  for path in files:
    with open(path, "r+b") as f:
      f.truncate(10)


def garble_metadata(step_dir):
  with open(os.path.join(step_dir, "meta", "metadata"), "w") as f:
    f.write("garbage{")


def two_checkpoints(directory):
  checkpoints = PhaseCheckpoints(directory)
  for step in (1, 2):
    checkpoints.save(step, {"w": np.arange(10.0) * step}, {"epoch": step})
  checkpoints.close()


TEMPLATE = {"w": np.zeros(10)}


@pytest.mark.parametrize("corrupt", [truncate_arrays, garble_metadata])
def test_an_unreadable_latest_checkpoint_falls_back_to_the_previous(
    corrupt, tmp_path, capsys):
  directory = str(tmp_path / "phase")
  two_checkpoints(directory)
  corrupt(os.path.join(directory, "2"))
  checkpoints = PhaseCheckpoints(directory)
  state, meta = checkpoints.restore_latest(TEMPLATE)
  assert meta == {"epoch": 1}
  np.testing.assert_array_equal(state["w"], np.arange(10.0))
  err = capsys.readouterr().err.strip()
  assert "phase/2 is unreadable" in err and "resuming from step 1" in err
  assert "\n" not in err
  assert os.listdir(directory + ".unreadable") == ["2"]
  # The run goes on: step 2 can be saved again and read back.
  checkpoints.save(2, {"w": np.ones(10)}, {"epoch": 2})
  assert checkpoints.restore_latest(TEMPLATE)[1] == {"epoch": 2}
  checkpoints.close()


def test_no_readable_checkpoint_is_an_error_that_changes_nothing(tmp_path):
  directory = str(tmp_path / "phase")
  two_checkpoints(directory)
  for step in ("1", "2"):
    truncate_arrays(os.path.join(directory, step))
  checkpoints = PhaseCheckpoints(directory)
  with pytest.raises(ConfigError, match="delete that folder"):
    checkpoints.restore_latest(TEMPLATE)
  assert sorted(os.listdir(directory)) == ["1", "2"]
  assert not os.path.exists(directory + ".unreadable")


# After a failed read orbax leaves a coroutine unawaited and a callback on
# its closed event loop: noise of the library, not of the run.
@pytest.mark.slow  # 6-8 s: with the slow tests, for the default budget
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_cli_resume_over_unreadable_checkpoints(tmp_path, capsys,
                                                monkeypatch):
  workdir = tmp_path / "run"
  args = ["pretrain", OFFLINE_CONFIG, "--workdir", str(workdir),
          "--no-progress"]
  args += [a for o in TINY + ["pretrain.epochs=3"] for a in ("--set", o)]
  end_epoch = phases.PhaseContext.end_epoch
  def ctrl_c_in_epoch_3(ctx, record):
    end_epoch(ctx, record)
    if record["epoch"] == 3:
      raise KeyboardInterrupt
  monkeypatch.setattr(phases.PhaseContext, "end_epoch", ctrl_c_in_epoch_3)
  assert cli.main(args) == 130
  monkeypatch.undo()
  phase = workdir / "seed_0" / "pretrain"
  assert sorted(os.listdir(phase)) == ["1", "2"]
  garble_metadata(str(phase / "2"))
  capsys.readouterr()
  assert cli.main(args + ["--resume"]) == 0
  assert "resuming from step 1" in capsys.readouterr().err
  # A finished phase keeps one checkpoint; break it.
  assert os.listdir(phase) == ["3"]
  truncate_arrays(str(phase / "3"))
  before = sorted(str(p) for p in workdir.rglob("*"))
  assert cli.main(args + ["--resume"]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("coprune: error: no checkpoint in ") and "\n" not in err
  assert str(phase) in err
  assert sorted(str(p) for p in workdir.rglob("*")) == before
