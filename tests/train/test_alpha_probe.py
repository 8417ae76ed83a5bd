import types

import jax
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax import models
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import methods
from coprune_jax.train import phases
from coprune_jax.train import trainers
from coprune_jax.train.alpha_probe import AlphaProbe, best_alpha
from tests.trees import features


class StubTrainer:
  """Its state is (alpha, epochs trained); it records the batches' seeds."""

  def __init__(self):
    self.rngs = []

  def train_epoch(self, state, rng):
    self.rngs.append((state[0], rng.integers(1 << 30)))
    return (state[0], state[1] + 1), {}

  def target(self, state):
    return state, None


def stub_probe(accuracy_of_alpha, candidates=(0.0, 0.5, 1.0), epochs=2):
  evaluate = lambda weights, split, masks: accuracy_of_alpha[weights[0]]
  return AlphaProbe(candidates, epochs, val=None, evaluate=evaluate, seed=3)


def test_the_candidate_best_on_validation_wins():
  probe = stub_probe({0.0: 0.4, 0.5: 0.9, 1.0: 0.6, 0.7: 0.5})
  trainer = StubTrainer()
  accuracies = probe.accuracies(trainer, lambda alpha: (alpha, 0), 0.7,
                                stage=1)
  assert best_alpha(accuracies) == 0.5
  # The scheduled alpha first, each candidate trained `epochs` epochs on the
  # same batches as the others.
  alphas = [alpha for alpha, _ in trainer.rngs]
  assert alphas == [0.7, 0.7, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
  seeds = [seed for _, seed in trainer.rngs]
  assert seeds[0::2] == [seeds[0]] * 4 and seeds[1::2] == [seeds[1]] * 4
  assert seeds[0] != seeds[1]


def test_ties_keep_the_scheduled_alpha():
  probe = stub_probe({0.0: 0.5, 0.5: 0.5, 1.0: 0.5})
  for scheduled in (1.0, 0.5):
    accuracies = probe.accuracies(StubTrainer(), lambda a: (a, 0), scheduled,
                                  stage=0)
    assert best_alpha(accuracies) == scheduled


@pytest.mark.parametrize("candidates, epochs", [((), 3), ((0.2, 1.5), 3),
                                                ((0.5,), 0)])
def test_bad_probes_are_refused(candidates, epochs):
  with pytest.raises(ValueError, match="alpha"):
    AlphaProbe(candidates, epochs, None, None, 0)


def test_cooperative_trainer_starts_each_stage_with_the_probed_alpha():
  classifier = Classifier(models.make_model("mlp", 3, hidden=(16,)))
  source, target = classifier.init(0, (6,)), classifier.init(1, (6,))
  probe = AlphaProbe((0.0, 1.0), 2, features(2, 30),
                     phases.make_evaluator(classifier), seed=0)
  ratios = cj.keep_ratio_tree(source[0], 0.2)
  source_pruner = cj.pruners.magnitude(ratios)
  target_pruner = cj.pruners.cooperative(ratios)
  trainer = trainers.CoPruneTrainer(
      train_apply=classifier.train_apply,
      source_pruner=source_pruner, target_pruner=target_pruner,
      schedule=cj.alpha_schedule([0.5, 0.5]), source_weights=source,
      target_weights=target, source_train=features(3, 64),
      target_train=features(4, 64), batch_size=8, initial_masks="pruned",
      alpha_probe=probe)
  state = trainer.init_state()
  stage_best = jax.tree.map(np.asarray, state)  # the step donates its input

  start = lambda alpha: trainer.coprune.begin_stage(
      jax.tree.map(np.copy, stage_best), alpha)
  accuracies = probe.accuracies(trainer, start, 0.5, stage=1)
  assert list(accuracies) == [0.5, 0.0, 1.0]
  assert len(set(accuracies.values())) > 1, "the probe must tell them apart"
  begun = trainer.begin_stage(stage_best, 1)
  assert float(begun.alpha) == max(accuracies, key=accuracies.get)
  assert int(begun.stage) == 1
  logged = trainer.record(begun)["alpha_probe"]  # what the log says of it
  assert logged == {f"{a:g}": v for a, v in accuracies.items()}


@pytest.mark.parametrize("train_size, probe_steps, expected_epochs", [
    (100, 0, 5),  # the probe's epochs, whatever they hold
    (100, 40, 40),  # 10 labels per class: one step an epoch
    (10_000, 40, 5),  # 78 steps an epoch: 5 epochs already hold more
])
def test_the_probe_holds_at_least_the_steps_asked(train_size, probe_steps,
                                                  expected_epochs):
  batch_size = min(128, train_size)
  start = types.SimpleNamespace(
      batch_size=batch_size, seed=0, classifier=None,
      steps_per_epoch=train_size // batch_size,
      data=types.SimpleNamespace(target_train=[0] * train_size,
                                 target_val=None))
  options = {"alpha_candidates": (0.0, 1.0), "alpha_probe_epochs": 5,
             "alpha_probe_steps": probe_steps}
  assert methods._alpha_probe(start, options).epochs == expected_epochs
