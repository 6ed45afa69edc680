"""Stacks, the per-environment stage, and the typed environment config."""
