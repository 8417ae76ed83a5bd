"""Methods as config sections: the builder makes what a section names."""

import types

import chex
import jax
import ml_collections
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.train import methods
from coprune_jax.train import protocol
from tests.pipeline_configs import COMMON
from tests.trees import linen_params


def start_of(params=None, steps_per_epoch=2):
  prune = ml_collections.ConfigDict(protocol.prune_config(0.5, batch_size=8))
  split = [None] * (8 * steps_per_epoch)  # only its length is read here
  data = types.SimpleNamespace(source_train=split, target_train=split,
                               target_val=split)
  classifier = types.SimpleNamespace(
      train_apply=lambda params, state, inputs: (inputs, state),
      eval_apply=None, module=None)
  source = params if params is not None else {"w": np.ones((4, 4))}
  target = jax.tree.map(lambda w: np.cos(np.arange(w.size)).reshape(w.shape)
                        + w, source)
  ratios = cj.keep_ratio_tree(source, 0.5)
  return methods.Start(classifier, None, data, ratios, cj.alpha_schedule(),
                       prune, (source, {}), (target, {}), seed=3)


def build(name, start=None):
  section = ml_collections.ConfigDict(COMMON.METHODS[name])
  return methods.build_trainer(name, section, start or start_of())[0]


@pytest.mark.parametrize("name, source_steps, alphas", [
    ("coprune", 1, (0.7, 0.5, 0.3)),
    ("coprune_source10", 10, (0.7, 0.5, 0.3)),
    ("alpha0", 1, (0.0, 0.0, 0.0)),
    ("alpha1", 1, (1.0, 1.0, 1.0)),
    ("alpha1_source10", 10, (1.0, 1.0, 1.0)),
    ("coprune_eq7", 1, (0.7, 0.567, 0.433, 0.3)),
])
def test_cooperative_sections_set_source_steps_and_alphas(name, source_steps,
                                                          alphas):
  trainer = build(name)
  assert trainer.source_steps == source_steps
  assert trainer.schedule.values == pytest.approx(alphas, abs=1e-3)


def test_pruner_sections_reach_their_factories():
  trainer = build("coprune_gradual")  # 10 epochs of 2 steps
  assert trainer.target_pruner.budget_step == 20
  assert trainer.source_pruner.budget_step == 20
  assert build("coprune_hysteresis").target_pruner.scores_fn is None
  dns = build("dns").pruner
  assert dns.initial == "pruned" and dns.update_every == 1
  pruner = methods.build_pruner(
      {"name": "rigl", "end_step": {"epochs": 3}, "update_every": 2},
      keep_ratios=0.1, seed=7, steps_per_epoch=5)
  assert pruner.keep_ratios == 0.1 and pruner.update_every == 2


def test_the_run_seed_reaches_pruners_that_draw():
  def masks(seed):
    pruner = methods.build_pruner({"name": "random"}, 0.3, seed, 1)
    return pruner.start(linen_params())[1]
  chex.assert_trees_all_equal(masks(4), masks(4))
  assert not all(np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(masks(4)), jax.tree.leaves(masks(5))))


def test_single_methods_start_as_their_pruners_do():
  start = start_of()
  (source, _), (target, _) = start.source_weights, start.target_weights
  lwc, dns = build("lwc", start), build("dns", start)
  expected = cj.magnitude_masks(target, start.keep_ratios)
  chex.assert_trees_all_equal(lwc.initial_masks, expected)
  chex.assert_trees_all_equal(dns.initial_masks, expected)
  assert lwc.pruner.gradient == "masked" and lwc.pruner.update_every == 0
  # One-time Co-Prune: the fused masks of the source and the fine-tuned
  # target at the schedule's first alpha.
  _, fused = cj.cooperative_masks(source, target, 0.7, start.keep_ratios)
  chex.assert_trees_all_equal(build("one_time_coprune", start).initial_masks,
                              fused)


@pytest.mark.parametrize("section, message", [
    (dict(label="x", kind="joint"), "kind must be one of"),
    (dict(label="x", kind="single"), "needs the pruner sections ['target']"),
    (dict(label="x", kind="single", target=dict(name="lwc")),
     "unknown pruner 'lwc'"),
    (dict(label="x", kind="single", target=dict(name="dns", hysteris=0.1)),
     "unexpected keyword argument 'hysteris'"),
    (dict(label="x", kind="single", target=dict(name="dns"), patience=3),
     "unknown single options ['patience']"),
    (dict(label="x", kind="single", target=dict(name="dns",
                                                keep_ratios=0.5)),
     "keep ratios come from the prune section"),
    (dict(label="x", kind="cooperative", source=dict(name="magnitude"),
          target=dict(name="cooperative"), alpha=1.5),
     "alpha must be a number in [0, 1]"),
    (dict(kind="single", target=dict(name="dns")), "needs a label"),
])
def test_bad_sections_are_refused_naming_the_method(section, message):
  params = {"w": np.ones((4, 4))}
  with pytest.raises(ValueError, match="method 'bad'") as error:
    methods.check_method("bad", ml_collections.ConfigDict(section), params,
                         cj.keep_ratio_tree(params, 0.5))
  assert message in str(error.value)
