import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from coprune_jax.data import input_pipeline as pipeline
from coprune_jax.models.classifier import Classifier
from coprune_jax.train import phases


class TinyMLP(nn.Module):
  hidden: int = 8

  @nn.compact
  def __call__(self, x, train: bool):
    del train
    return nn.Dense(3)(nn.relu(nn.Dense(self.hidden)(x)))


def feature_split(num_examples, seed):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(num_examples, 5)).astype(np.float32)
  return pipeline.Split(x, rng.integers(0, 3, num_examples),
                        mean=np.zeros(5, np.float32), std=np.ones(5, np.float32))


def direct_accuracy(classifier, weights, split, masks=None):
  params = weights[0]
  if masks is not None:
    params = jax.tree.map(lambda p, m: p * m, params, masks)
  logits = classifier.eval_apply(params, weights[1], jnp.asarray(split.x))
  return int(np.sum(np.argmax(logits, -1) == split.y)) / len(split)


def test_accuracy_counts_every_example_once_with_a_padded_last_batch():
  classifier = Classifier(TinyMLP())
  weights = classifier.init(0, (5,))
  masks = jax.tree.map(lambda p: jnp.asarray(
      np.random.default_rng(1).random(p.shape) < 0.5), weights[0])
  evaluate = phases.make_evaluator(classifier, batch_size=5)
  for num_examples in (13, 5, 3):
    split = feature_split(num_examples, num_examples)
    assert evaluate(weights, split) == direct_accuracy(classifier, weights,
                                                       split)
    assert evaluate(weights, split, masks) == direct_accuracy(
        classifier, weights, split, masks)


def test_evaluators_of_equal_classifiers_share_one_program_per_shape():
  module = TinyMLP(hidden=6)  # a program no other test compiles
  weights = Classifier(module).init(0, (5,))
  before = phases._num_correct._cache_size()
  for _ in range(3):  # as every phase of a table makes its own evaluator
    evaluate = phases.make_evaluator(Classifier(module.clone()), batch_size=5)
    evaluate(weights, feature_split(13, 0))  # batches of 5, 5 and 3 + 2 pad
    evaluate(weights, feature_split(10, 1))
  assert phases._num_correct._cache_size() == before + 1
