"""Metrics as JSON lines: one record per epoch of every phase."""

import json
import os
from typing import Iterable

from coprune_jax import sharding


def _plain(value):
  if hasattr(value, "item") and getattr(value, "size", 2) == 1:
    return value.item()
  if isinstance(value, dict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


class MetricsLog:
  """Appends records to `path`, one line per epoch of every phase."""

  def __init__(self, path: str):
    self.path = path

  def drop_after(self, seed: int, phase: str, stage: int, epoch: int) -> None:
    """Cuts the log before the first record of (seed, phase) past (stage,
    epoch), the position a resumed phase continues from: what follows it is
    written again, so the log keeps one line per epoch."""
    if not sharding.is_primary() or not os.path.exists(self.path):
      return
    with open(self.path) as f:
      lines = f.readlines()
    for i, line in enumerate(lines):
      record = json.loads(line)
      if (record.get("seed") == seed and record.get("phase") == phase
          and (record.get("stage", 0), record["epoch"]) > (stage, epoch)):
        break
    else:
      return
    partial = self.path + ".tmp"
    with open(partial, "w") as f:
      f.writelines(lines[:i])
    os.replace(partial, self.path)  # a kill here leaves either file whole

  def write(self, **record) -> None:
    if not sharding.is_primary():  # one writer in a multi-host run
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(_plain(record), sort_keys=True) + "\n")


def read_records(path: str) -> list[dict]:
  """Records in order; for a repeated (seed, phase, stage, epoch), the last
  (logs of runs resumed before `drop_after` existed repeat epochs)."""
  if not os.path.exists(path):
    return []
  latest = {}
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      key = tuple(record.get(k) for k in ("seed", "phase", "stage", "epoch"))
      latest.pop(key, None)  # re-insert: keeps the order of the last write
      latest[key] = record
  return list(latest.values())


def select(records: Iterable[dict], **conditions) -> list[dict]:
  return [r for r in records
          if all(r.get(k) == v for k, v in conditions.items())]
