"""coprune-jax: cooperative cross-domain pruning (Co-Prune) in JAX.

The names here are what a training loop composes with; the rest lives in
submodules: `cj.pruners` (the algorithms), `cj.masks` and `cj.topk` (mask
functions), `cj.plateau` (the protocol's learning-rate control), `cj.alpha`
(alpha schedules), `cj.tree_paths` (parameter names), `cj.domain_step` and
`cj.pruning` (the pieces of a step), `cj.compression` (quantization, weight
sharing, sparse files).
"""

from coprune_jax import compression
from coprune_jax import pruners
from coprune_jax.compression.sparse_file import load_pruned
from coprune_jax.compression.sparse_file import save_pruned
from coprune_jax.core import alpha
from coprune_jax.core import domain_step
from coprune_jax.core import masks
from coprune_jax.core import plateau
from coprune_jax.core import pruning
from coprune_jax.core import topk
from coprune_jax.core import tree_paths
from coprune_jax.core.alpha import alpha_schedule
from coprune_jax.core.cooperative import cooperative_pruning
from coprune_jax.core.cooperative import CooperativePruning
from coprune_jax.core.cooperative import CoPruneState
from coprune_jax.core.keep_ratios import erk_keep_ratios
from coprune_jax.core.keep_ratios import keep_ratio_tree
from coprune_jax.core.keep_ratios import kept_count
from coprune_jax.core.keep_ratios import overall_keep_ratio
from coprune_jax.core.losses import classification_objective
from coprune_jax.core.losses import cross_entropy_loss
from coprune_jax.core.masks import cooperative_masks
from coprune_jax.core.masks import kept_counts
from coprune_jax.core.masks import magnitude_masks
from coprune_jax.core.masks import score_masks
from coprune_jax.core.plateau import adam_with_plateau
from coprune_jax.core.pruning import init_with_masks
from coprune_jax.core.pruning import masks_of
from coprune_jax.core.pruning import pruned
from coprune_jax.core.pruning import PrunedState
from coprune_jax.core.straight_through import apply_masks
from coprune_jax.pruners._cooperative import published_coprune

__version__ = "0.1.0"
