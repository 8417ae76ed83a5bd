"""The named Co-Prune variants of `methods.METHODS` build what they name."""

import types

import ml_collections
import pytest

import coprune_jax as cj
from coprune_jax.train import methods
from coprune_jax.train import protocol


def start_of(**prune_overrides):
  prune = ml_collections.ConfigDict(protocol.prune_config({"w": 0.5}))
  prune.update(prune_overrides)
  split = [None] * 16  # only its length is read before training
  data = types.SimpleNamespace(source_train=split, target_train=split,
                               target_val=split)
  classifier = types.SimpleNamespace(
      train_apply=lambda params, state, inputs: (inputs, state))
  weights = ({"w": None}, {})
  return methods.Start(classifier, None, data, {"w": 0.5},
                       cj.alpha_schedule(), prune, None, weights, weights,
                       seed=0)


@pytest.mark.parametrize("name, source_steps, alphas", [
    ("coprune", 1, (0.7, 0.5, 0.3)),
    ("coprune_source10", 10, (0.7, 0.5, 0.3)),
    ("alpha0", 1, (0.0, 0.0, 0.0)),
    ("alpha1", 1, (1.0, 1.0, 1.0)),
    ("alpha1_source10", 10, (1.0, 1.0, 1.0)),
])
def test_variant_sets_its_source_steps_and_alphas(name, source_steps, alphas):
  trainer, _ = methods.METHODS[name](start_of())
  assert trainer.source_steps == source_steps
  assert trainer.schedule.values == pytest.approx(alphas)


def test_a_variant_overrides_the_configs_source_steps_only_where_named():
  assert methods.METHODS["coprune"](
      start_of(source_steps=3))[0].source_steps == 3
  assert methods.METHODS["alpha1_source10"](
      start_of(source_steps=3))[0].source_steps == 10
