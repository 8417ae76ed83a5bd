"""Huffman code lengths and coded sizes of integer symbol streams.

Deep Compression's last stage Huffman-codes the cluster indices of the kept
weights and the gaps between their positions. We compute the optimal code
(lengths only: the size of the coded stream is what a report needs) and the
entropy lower bound beside it; the code tables are tiny (one length per
distinct symbol).
"""

import heapq

import numpy as np


def huffman_code_lengths(counts: dict) -> dict:
  """{symbol: code length in bits} of an optimal prefix code for `counts`.

  >>> huffman_code_lengths({"a": 5, "b": 2, "c": 1, "d": 1})
  {'a': 1, 'b': 2, 'c': 3, 'd': 3}
  """
  symbols = [s for s, c in counts.items() if c > 0]
  if not symbols:
    return {}
  if len(symbols) == 1:  # one symbol still needs one bit per occurrence
    return {symbols[0]: 1}
  # Heap of (count, tie-breaker, symbols below this node).
  heap = [(counts[s], i, [s]) for i, s in enumerate(symbols)]
  heapq.heapify(heap)
  lengths = dict.fromkeys(symbols, 0)
  order = len(heap)
  while len(heap) > 1:
    count_a, _, below_a = heapq.heappop(heap)
    count_b, _, below_b = heapq.heappop(heap)
    for s in below_a + below_b:
      lengths[s] += 1
    heapq.heappush(heap, (count_a + count_b, order, below_a + below_b))
    order += 1
  return lengths


def symbol_counts(symbols: np.ndarray) -> dict:
  values, counts = np.unique(np.asarray(symbols).reshape(-1),
                             return_counts=True)
  return {int(v): int(c) for v, c in zip(values, counts)}


def huffman_bits(symbols: np.ndarray) -> int:
  """Bits of `symbols` (integers) Huffman-coded with their own statistics."""
  counts = symbol_counts(symbols)
  lengths = huffman_code_lengths(counts)
  return sum(counts[s] * lengths[s] for s in counts)


def entropy_bits(symbols: np.ndarray) -> float:
  """n * H(symbols): the lower bound of any symbol-by-symbol code."""
  counts = np.array(list(symbol_counts(symbols).values()), np.float64)
  total = counts.sum()
  return float(-(counts * np.log2(counts / total)).sum()) if total else 0.0


def position_gaps(mask: np.ndarray) -> np.ndarray:
  """Distances between consecutive kept positions (row-major; first from -1).

  >>> position_gaps(np.array([0, 1, 1, 0, 0, 1], bool)).tolist()
  [2, 1, 3]
  """
  positions = np.flatnonzero(np.asarray(mask).reshape(-1))
  return np.diff(positions, prepend=-1)
