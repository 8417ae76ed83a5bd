"""Per-phase checkpoints through orbax: a pytree state plus JSON metadata."""

import os
import sys
from typing import Any, Optional

import orbax.checkpoint as ocp

from coprune_jax.train.config_files import ConfigError


class PhaseCheckpoints:
  """Keeps the last checkpoints of one training phase in `directory`.

  Each checkpoint holds `state` (any pytree of arrays, None allowed) and
  `meta` (JSON: epoch, stage, best validation accuracy, done flag, ...).
  Saves complete before `save` returns, so a killed run resumes from the last
  epoch it finished.
  """

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self._max_to_keep = max_to_keep
    self._manager = self._open()

  def _open(self) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=self._max_to_keep, create=True))

  def save(self, step: int, state: Any, meta: dict) -> None:
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                       force=True)
    self._manager.wait_until_finished()

  def finish(self, step: int, state: Any, meta: dict) -> None:
    """Saves a finished phase's checkpoint and deletes every other one.

    `state` needs to hold only what later phases use (e.g. the best
    weights): a finished phase is not trained again.
    """
    self.save(step, state, meta)
    for other in self._manager.all_steps():
      if other != step:
        self._manager.delete(other)

  def restore_latest(self, template: Any) -> Optional[tuple[Any, dict]]:
    """(state, meta) of the latest checkpoint, or None.

    template: the state's pytree, or a function of the checkpoint's meta
    giving it (a finished phase saves a smaller state, see `finish`).

    An unreadable latest checkpoint (a truncated array file, garbage in its
    metadata) is moved aside, with a line on stderr, and the one before it
    restored. Raises ConfigError, changing nothing, if none can be read.
    """
    unreadable = []  # (step, first line of its error)
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        meta = self._manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore())).meta
        shape = template(meta) if callable(template) else template
        state = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(shape))).state
      except Exception as e:  # pylint: disable=broad-except
        why = f"{type(e).__name__}: {e}".splitlines()[0][:120]
        unreadable.append((step, why))
        continue
      if unreadable:
        self._move_aside([s for s, _ in unreadable])
        print(f"checkpoint {self.directory}/{unreadable[0][0]} is unreadable "
              f"({unreadable[0][1]}); resuming from step {step}, moved "
              f"the unreadable one to {self.directory}.unreadable/",
              file=sys.stderr)
      return state, meta
    if unreadable:
      raise ConfigError(
          f"no checkpoint in {self.directory} can be read ({unreadable[0][1]}"
          f"); delete that folder to redo this phase from its start")
    return None

  def _move_aside(self, steps) -> None:
    self._manager.close()
    aside = self.directory + ".unreadable"
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      name, copy = str(step), 1
      while os.path.exists(os.path.join(aside, name)):  # an earlier one
        name, copy = f"{step}-{copy}", copy + 1
      os.replace(os.path.join(self.directory, str(step)),
                 os.path.join(aside, name))
    self._manager = self._open()  # it lists the steps when opened

  def close(self):
    self._manager.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()


class NoCheckpoints:
  """`PhaseCheckpoints`' interface for phases short enough to rerun whole
  (e.g. the fine-tuning of a compressed model): nothing is kept."""

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    return False

  def save(self, step: int, state: Any, meta: dict) -> None:
    del step, state, meta

  finish = save

  def restore_latest(self, template: Any) -> None:
    del template
    return None
