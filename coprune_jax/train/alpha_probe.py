"""Co-Prune's alpha chosen per stage on target validation data.

The published schedule fixes each stage's alpha (0.7 -> 0.5 -> 0.3) before
anything is known about how well the source fits the target. Here, at the
start of every stage, each candidate alpha trains its own copy of the
stage's start for a few epochs; the candidate whose pruned target model is
most accurate on target validation data then trains the stage, from the
same start. Test data is never seen.

The probe trains at the stage's starting learning rate (no plateau steps),
and every candidate sees the same batches (common random numbers: the
comparison is of alphas, not of data orders). Ties go to the earlier
candidate, and the schedule's alpha is probed first, so a probe
that cannot tell the candidates apart (e.g. all at chance right after the
one-shot jump of the first stage) keeps the published alpha. With 10
labels per class an epoch is one step, and 5 epochs leave every candidate
of the first stage at chance: a method's `alpha_probe_steps` makes the probe
hold at least that many steps.
"""

import dataclasses
import zlib
from typing import Any, Callable

import numpy as np

from coprune_jax.data import input_pipeline as pipeline

State = Any

_TAG = zlib.crc32(b"alpha_probe")


@dataclasses.dataclass(frozen=True)
class AlphaProbe:
  candidates: tuple[float, ...]
  epochs: int
  val: pipeline.Split  # target validation data
  evaluate: Callable  # accuracy(weights, split, masks): phases.make_evaluator
  seed: int

  def __post_init__(self):
    if not self.candidates or not all(0 <= a <= 1 for a in self.candidates):
      raise ValueError(f"alpha candidates must be a non-empty tuple of "
                       f"numbers in [0, 1], got {self.candidates!r}")
    if self.epochs < 1:
      raise ValueError(f"the alpha probe needs at least one epoch, got "
                       f"{self.epochs}")

  def accuracies(self, trainer, start_with: Callable[[float], State],
                 scheduled: float, stage: int) -> dict[float, float]:
    """{alpha: validation accuracy after the probe}, the scheduled alpha
    first. `start_with(alpha)` makes a fresh start state (the trainer's
    step donates its state)."""
    order = (scheduled,) + tuple(a for a in self.candidates if a != scheduled)
    accuracies = {}
    for alpha in order:
      state = start_with(alpha)
      for epoch in range(self.epochs):
        rng = np.random.default_rng([self.seed, _TAG, stage, epoch])
        state, _ = trainer.train_epoch(state, rng)
      weights, masks = trainer.target(state)
      accuracies[alpha] = self.evaluate(weights, self.val, masks)
    return accuracies


def best_alpha(accuracies: dict[float, float]) -> float:
  """The candidate best on validation data (ties: the earlier one)."""
  return max(accuracies, key=accuracies.get)  # first of equal maxima
