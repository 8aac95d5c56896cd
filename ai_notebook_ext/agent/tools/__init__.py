"""The agent's tools, one module per group; ``TOOLS`` maps names to tools."""

from __future__ import annotations

from . import blocks, dag, datasets, kernel, runs
from .base import Outcome, Tool, ToolContext, ToolInputError

TOOLS: dict[str, Tool] = {
    t.name: t for group in (blocks, runs, dag, datasets, kernel) for t in group.TOOLS
}

__all__ = ["TOOLS", "Outcome", "Tool", "ToolContext", "ToolInputError"]
