"""The end-to-end pipeline: data, phases with checkpoints, reports, CLI."""
