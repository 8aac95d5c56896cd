"""Response models of the workspace endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..dag.schemas import DagEdge, IgnoredEdge
from ..execution.schemas import KernelOut, RunOut
from ..projects.schemas import BlockOut, Output, ProjectOut, ProjectRole

BlockState = Literal["fresh", "stale", "never-run", "queued", "running", "failed", "skipped"]


class WorkspaceBlock(BlockOut):
    state: BlockState | None = Field(description="null for markdown blocks.")
    stale_reason: str | None = Field(
        description="Why the block is stale (the upstream blocks and names that changed)."
    )
    last_run: RunOut | None = Field(description="The block's last finished run, with outputs.")


class WorkspaceOut(Output):
    project: ProjectOut
    role: ProjectRole
    blocks: list[WorkspaceBlock] = Field(description="Every block, in order.")
    edges: list[DagEdge] = Field(description="As GET .../dag returns them.")
    ignored_edges: list[IgnoredEdge]
    kernel: KernelOut
    kernel_generation: int | None = Field(
        description="The live kernel's generation whose results count as fresh (null: none)."
    )
