"""Dependency analysis, the block graph and run planning."""
