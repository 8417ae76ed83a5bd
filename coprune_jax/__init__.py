"""coprune-jax: cooperative cross-domain pruning (Co-Prune) in JAX."""

from coprune_jax import pruners

from coprune_jax.compression.quantization import clip_shadow_weights
from coprune_jax.compression.quantization import quantize_params
from coprune_jax.compression.sparse_file import load_pruned
from coprune_jax.compression.sparse_file import save_pruned
from coprune_jax.compression.weight_sharing import share_weights
from coprune_jax.compression.weight_sharing import shared_params
from coprune_jax.core.alpha import alpha_schedule
from coprune_jax.core.alpha import AlphaSchedule
from coprune_jax.core.cooperative import cooperative_pruning
from coprune_jax.core.cooperative import CooperativePruning
from coprune_jax.core.cooperative import CoPruneState
from coprune_jax.core.domain_step import DomainState
from coprune_jax.core.keep_ratios import erk_keep_ratios
from coprune_jax.core.keep_ratios import keep_ratio_tree
from coprune_jax.core.keep_ratios import kept_count
from coprune_jax.core.keep_ratios import overall_keep_ratio
from coprune_jax.core.losses import classification_objective
from coprune_jax.core.losses import cross_entropy_loss
from coprune_jax.core.masks import all_ones_masks
from coprune_jax.core.masks import check_masks
from coprune_jax.core.masks import cooperative_masks
from coprune_jax.core.masks import kept_counts
from coprune_jax.core.masks import magnitude_fusion
from coprune_jax.core.masks import magnitude_masks
from coprune_jax.core.masks import score_masks
from coprune_jax.core.masks import signed_fusion
from coprune_jax.core.plateau import adam_with_plateau
from coprune_jax.core.plateau import plateau_end_epoch
from coprune_jax.core.plateau import plateau_init
from coprune_jax.core.plateau import plateau_of
from coprune_jax.core.plateau import plateau_update
from coprune_jax.core.plateau import PlateauState
from coprune_jax.core.plateau import reached_optimum
from coprune_jax.core.plateau import scale_by_plateau
from coprune_jax.core.pruning import init_with_masks
from coprune_jax.core.pruning import masks_of
from coprune_jax.core.pruning import pruned
from coprune_jax.core.pruning import PrunedTransformation
from coprune_jax.core.pruning import PrunedState
from coprune_jax.core.straight_through import apply_masks
from coprune_jax.core.topk import top_count_masks
from coprune_jax.core.topk import topk_mask
from coprune_jax.core.tree_paths import is_weight_kernel
from coprune_jax.core.tree_paths import named_leaves
from coprune_jax.pruners._cooperative import published_coprune

__version__ = "0.1.0"
