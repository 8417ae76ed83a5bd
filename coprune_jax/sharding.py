"""Data-parallel and FSDP-style training steps on a `jax.sharding` mesh.

Batches are split over the mesh's "data" axis. Every other array (params,
optimizer states, masks, plateau state) is replicated, unless a sharding
rule names it: a rule is a regex searched in the leaf's path within the
state (e.g. "target_params/conv3/kernel", "target_masks/conv3/kernel",
"target_opt_state/0/mu/conv3/kernel"), so the rule "conv3/kernel" shards a
parameter, its mask and its Adam moments alike, over their largest axis
that the device count divides.

Meshes use `AxisType.Auto`: XLA's partitioner inserts the collectives that
make global reductions (the batch-mean loss, the gradients, the exact top-k
counts of the masks) the same as on one device, so a mesh changes where the
work happens, not what is computed (up to float summation order).
"""

import dataclasses
import re
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from coprune_jax.core import tree_paths

try:
  from jax.sharding import AxisType  # pylint: disable=g-import-not-at-top
except ImportError:  # older JAX (setup.cfg allows 0.4.35): every axis is Auto
  AxisType = None

PyTree = Any
DATA_AXIS = "data"


def is_primary() -> bool:
  """Whether this process writes files (the first of a multi-host run)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits for every process (a no-op with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def local_copy(tree: PyTree) -> PyTree:
  """Every array whole on this host: arrays spread over several processes
  are gathered (a collective: every process must call this), the others
  are returned as they are."""
  if jax.process_count() == 1:
    return tree

  def gather(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return multihost_utils.process_allgather(x, tiled=True)
    return x

  return jax.tree.map(gather, tree)


def data_mesh(num_devices: Optional[int] = None, devices=None) -> Mesh:
  """A 1-D mesh over `devices` (default: all, or the first `num_devices`)."""
  devices = list(jax.devices() if devices is None else devices)
  if num_devices is not None:
    if not 1 <= num_devices <= len(devices):
      raise ValueError(f"num_devices must be in [1, {len(devices)}], got "
                       f"{num_devices}")
    devices = devices[:num_devices]
  auto = {} if AxisType is None else {"axis_types": (AxisType.Auto,)}
  return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices, **auto)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def _leaf_sharding(name: str, leaf, mesh: Mesh, rules) -> NamedSharding:
  if not any(re.search(rule, name) for rule in rules):
    return replicated(mesh)
  devices = mesh.shape[DATA_AXIS]
  divisible = [axis for axis, size in enumerate(np.shape(leaf))
               if size % devices == 0]
  if not divisible:
    raise ValueError(f"'{name}' of shape {np.shape(leaf)} matches a sharding "
                     f"rule but no axis is divisible by {devices} devices")
  axis = max(divisible, key=lambda a: np.shape(leaf)[a])
  spec = [None] * np.ndim(leaf)
  spec[axis] = DATA_AXIS
  return NamedSharding(mesh, PartitionSpec(*spec))


def state_shardings(state: PyTree, mesh: Mesh,
                    shard_rules: Sequence[str] = ()) -> PyTree:
  """A NamedSharding per array leaf of `state` (None leaves stay None).

  Raises ValueError if a rule matches nothing, or matches a leaf that no
  device count divides along any axis.
  """
  names = [name for name, _ in tree_paths.named_leaves(state)]
  for rule in shard_rules:
    if not any(re.search(rule, name) for name in names):
      raise ValueError(f"sharding rule {rule!r} matches no array of the state")
  return tree_paths.map_with_names(
      lambda name, leaf: None if leaf is None else _leaf_sharding(
          name, leaf, mesh, shard_rules), state)


def global_batch(batch: PyTree, mesh: Mesh) -> PyTree:
  """This process's slice of a batch, as arrays split over the data axis.

  On one host `batch` is the whole batch; with several hosts, each passes
  its own slice and gets the global array (`make_array_from_process_local_data`).
  The batch size of each slice must divide evenly over its local devices.
  """
  sharding = batch_sharding(mesh)
  local_devices = len(mesh.local_devices)

  def put(x):
    x = np.asarray(x)
    if x.shape[0] % local_devices:
      raise ValueError(f"a batch of {x.shape[0]} examples does not split over "
                       f"{local_devices} devices")
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree.map(put, batch)


def sharded_step(step: Callable, state_sharding: PyTree, mesh: Mesh,
                 num_batches: int = 2, donate: bool = True) -> Callable:
  """Jits `step(state, *batches) -> (state, metrics)` over the mesh.

  The state keeps `state_sharding` (from `state_shardings`) from step to
  step and is donated unless `donate=False`; batches come split over the
  data axis (see `global_batch`); metrics come back replicated. Works for
  the cooperative step (`num_batches=2`) and the single-model steps
  (`num_batches=1`).
  """
  return jax.jit(
      step,
      in_shardings=(state_sharding,) + (batch_sharding(mesh),) * num_batches,
      out_shardings=(state_sharding, replicated(mesh)),
      donate_argnums=0 if donate else ())


def make_placement(devices: Optional[int],
                   shard_rules: Sequence[str] = ()) -> Optional["Placement"]:
  """The placement of `--devices N --shard RULE ...`, or None without N."""
  if devices is None:
    if shard_rules:
      raise ValueError("sharding rules need a device count (--devices)")
    return None
  return Placement(data_mesh(devices), tuple(shard_rules))


@dataclasses.dataclass
class Placement:
  """Where a training loop's state and batches live: one mesh, its rules.

  `state(s)` places a state (a no-op when it already is), `step(fn, s, n)`
  compiles `fn` for states shaped like `s` (cached per structure), and
  `batch(b)` turns a global batch, identical on every host, into a global
  array from this host's slice (rows [p * B/P, (p + 1) * B/P) of host p).
  """
  mesh: Mesh
  shard_rules: tuple = ()
  _steps: dict = dataclasses.field(default_factory=dict, repr=False)

  def state(self, state: PyTree) -> PyTree:
    if jax.process_count() > 1:
      # A host's own arrays (e.g. restored from a checkpoint) go through
      # numpy: every process holds the same values.
      state = jax.tree.map(
          lambda x: np.asarray(x) if getattr(x, "is_fully_addressable",
                                             False) else x, state)
    return jax.device_put(state, state_shardings(state, self.mesh,
                                                 self.shard_rules))

  def step(self, step: Callable, state: PyTree, num_batches: int,
           donate: bool = True) -> Callable:
    key = (id(step), jax.tree.structure(state, is_leaf=lambda x: x is None),
           num_batches, donate)
    if key not in self._steps:
      self._steps[key] = sharded_step(
          step, state_shardings(state, self.mesh, self.shard_rules),
          self.mesh, num_batches, donate)
    return self._steps[key]

  def batch(self, batch: PyTree) -> PyTree:
    count, index = jax.process_count(), jax.process_index()

    def local_rows(x):
      x = np.asarray(x)
      if x.shape[0] % count:
        raise ValueError(f"a batch of {x.shape[0]} examples does not split "
                         f"over {count} processes")
      rows = x.shape[0] // count
      return x[index * rows:(index + 1) * rows]

    return global_batch(jax.tree.map(local_rows, batch), self.mesh)
