"""Structured (channel) pruning that yields a smaller, faster network."""
