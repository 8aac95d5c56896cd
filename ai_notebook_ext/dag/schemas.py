"""Request and response models of the DAG API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ..projects.schemas import INT_MAX, Input, Output

NodeState = Literal["never-run", "fresh", "stale", "running", "failed"]
BlockId = int


class EdgeCreate(Input):
    source: int = Field(ge=1, le=INT_MAX, description="Block that must run first.")
    target: int = Field(ge=1, le=INT_MAX, description="Block that depends on it.")


class EdgeOut(Output):
    id: int
    source: int = Field(validation_alias="source_id")
    target: int = Field(validation_alias="target_id")
    created_at: datetime


class DagNode(Output):
    block_id: int
    position: int
    state: NodeState
    fingerprint: str
    defines: list[str]
    references: list[str]
    mutates: list[str]
    unresolved: list[str] = Field(description="Names read that no earlier block defines.")
    star_imports: list[str]
    error: str | None = Field(description="Why the code could not be analyzed, if so.")
    stale_reason: str | None = Field(
        default=None, description="Why a stale block is stale (null unless stale)."
    )


class DagEdge(Output):
    source: int
    target: int
    kind: Literal["inferred", "explicit"]
    names: list[str] = Field(description="Names that cause an inferred edge ('*': a star import).")
    id: int | None = Field(default=None, description="The explicit edge's id (to delete it).")


class IgnoredEdge(Output):
    id: int
    source: int
    target: int
    cycle: list[int] = Field(description="The blocks on the cycle it would close.")


class DagOut(Output):
    nodes: list[DagNode]
    edges: list[DagEdge]
    ignored_edges: list[IgnoredEdge] = Field(
        description="Explicit edges left out because blocks changed so that they close a cycle."
    )
    kernel_generation: int | None = Field(
        description="The live kernel's generation whose results count as fresh (null: none)."
    )
