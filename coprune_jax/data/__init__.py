"""Domains, domain pairs and the input pipeline."""

from coprune_jax.data.domain import align_domains
from coprune_jax.data.domain import Domain
from coprune_jax.data.input_pipeline import Augmentation
from coprune_jax.data.input_pipeline import batches
from coprune_jax.data.input_pipeline import limited_split
from coprune_jax.data.input_pipeline import random_batches
from coprune_jax.data.input_pipeline import Split
from coprune_jax.data.local_files import load_npz
from coprune_jax.data.local_files import save_npz
