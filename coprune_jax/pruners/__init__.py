"""Pruning algorithms, one module each, looked up by name.

Each is a factory returning a `Pruner` for `cj.pruned(tx, pruner)`:

  tx = cj.pruned(optax.adamw(1e-3), cj.pruners.magnitude(0.1))
  rigl = cj.pruners.by_name("rigl")
  tx = cj.pruned(optax.adam(1e-3), rigl(0.1, end_step=1000))

A new algorithm is a module here defining its factory, plus one line in
`PRUNERS`; experiment configs name it with its keyword arguments.
"""

from coprune_jax.core.pruner import Calibration
from coprune_jax.core.pruner import Pruner
from coprune_jax.core.pruner import top_scores
from coprune_jax.pruners._cooperative import cooperative
from coprune_jax.pruners._dns import dns
from coprune_jax.pruners._fixed import fixed
from coprune_jax.pruners._gradual import gradual_keep_ratio
from coprune_jax.pruners._gradual import gradual_magnitude
from coprune_jax.pruners._lobs import lobs
from coprune_jax.pruners._magnitude import magnitude
from coprune_jax.pruners._n_of_m import n_of_m
from coprune_jax.pruners._n_of_m import n_of_m_mask
from coprune_jax.pruners._obd import obd
from coprune_jax.pruners._random import random
from coprune_jax.pruners._saliency import saliency
from coprune_jax.pruners._sparse_training import cosine_drop_fraction
from coprune_jax.pruners._sparse_training import rigl
from coprune_jax.pruners._sparse_training import sparse_evolutionary

# name -> factory(keep_ratios, **options) -> Pruner (fixed and n_of_m take
# no keep ratios).
PRUNERS = {
    "magnitude": magnitude,
    "cooperative": cooperative,
    "gradual_magnitude": gradual_magnitude,
    "random": random,
    "saliency": saliency,
    "n_of_m": n_of_m,
    "sparse_evolutionary": sparse_evolutionary,
    "rigl": rigl,
    "dns": dns,
    "obd": obd,
    "lobs": lobs,
    "fixed": fixed,
}


def by_name(name: str):
  """The factory registered as `name`; ValueError naming the known ones."""
  if name not in PRUNERS:
    raise ValueError(f"unknown pruner {name!r}; known: {sorted(PRUNERS)}")
  return PRUNERS[name]
