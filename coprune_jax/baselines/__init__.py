"""Objectives of the paper's baselines: DDC's MMD term and distillation
(the pruning baselines, OBD, L-OBS and DNS, are in `coprune_jax.pruners`)."""
