"""Per-phase checkpoints through orbax: a pytree state plus JSON metadata."""

import os
from typing import Any, Optional

import orbax.checkpoint as ocp


class PhaseCheckpoints:
  """Keeps the last checkpoints of one training phase in `directory`.

  Each checkpoint holds `state` (any pytree of arrays, None allowed) and
  `meta` (JSON: epoch, stage, best validation accuracy, done flag, ...).
  Saves complete before `save` returns, so a killed run resumes from the last
  epoch it finished.
  """

  def __init__(self, directory: str, max_to_keep: int = 2):
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def save(self, step: int, state: Any, meta: dict) -> None:
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                       force=True)
    self._manager.wait_until_finished()

  def restore_latest(self, template: Any) -> Optional[tuple[Any, dict]]:
    """(state, meta) of the latest checkpoint shaped like `template`, or None."""
    step = self._manager.latest_step()
    if step is None:
      return None
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()))
    return restored.state, restored.meta

  def close(self):
    self._manager.close()
