"""Execution: project kernels, block runs, the per-project queue, artifacts, recovery."""
