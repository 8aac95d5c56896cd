"""Response models of runs and kernels (the OpenAPI schemas come from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from ..projects.schemas import BULK_MAX, INT_MAX, Input, Output

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
BlockResultStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
Target = Literal["all", "stale", "upstream", "downstream", "blocks"]
PARALLEL_MAX = 16
RETRIES_MAX = 10


class PipelineCreate(Input):
    target: Target = Field(
        default="stale",
        description="all | stale (every block that is not fresh) | upstream of block_id (it "
        "and what it needs) | downstream of block_id (it and what depends on it) | blocks "
        "(block_ids). Blocks the targets need run too unless they are fresh.",
    )
    block_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    block_ids: list[Annotated[int, Field(ge=1, le=INT_MAX)]] | None = Field(
        default=None, min_length=1, max_length=BULK_MAX
    )
    parallel: int = Field(default=1, ge=1, le=PARALLEL_MAX, description="Worker count.")
    stop_on_error: bool = Field(
        default=False,
        description="Skip everything left after a failure (default: only "
        "what depends on the failed block).",
    )
    retries: int = Field(default=0, ge=0, le=RETRIES_MAX, description="Extra attempts per block.")


class BlockResult(Output):
    block_id: int
    status: BlockResultStatus
    run_id: int | None = Field(description="The block run of the last attempt.")
    attempts: int
    reason: str = Field(description="Why it is in the plan, or why it was skipped or failed.")
    where: str = Field(
        default="project kernel",
        description="project kernel, or forked worker (parallel pipelines); with a reason "
        "when a block had to run in the project kernel.",
    )


class RunOut(Output):
    id: int
    project_id: int
    block_id: int | None
    status: RunStatus
    source: str = Field(description="The code as it was run.")
    block_version: int
    timeout_seconds: float | None
    execution_count: int | None
    outputs: list[dict[str, Any]] = Field(
        description="nbformat outputs; binary or large data is in output.artifacts[mime]."
    )
    error: dict[str, Any] | None = Field(
        description=(
            "ename, evalue, traceback and reason (error, timeout, kernel_died, kernel: "
            "it could not start or was shut down, internal)."
        )
    )
    message: str = Field(description="A short summary of how the run ended.")
    kernel_generation: int | None
    fingerprint: str | None = Field(
        default=None, description="The block's fingerprint (its code and upstream) it ran with."
    )
    username: str | None = Field(
        default=None, description="Who started the run (filled in run lists)."
    )
    kind: Literal["block", "pipeline"] = "block"
    parent_id: int | None = Field(default=None, description="The pipeline run it belongs to.")
    plan: list[int] | None = Field(default=None, description="A pipeline's blocks in order.")
    results: list[BlockResult] | None = Field(default=None, description="Per block of the plan.")
    options: dict[str, Any] | None = Field(default=None, description="A pipeline's request.")
    trigger: Literal["manual", "schedule"] = Field(
        default="manual",
        description="What started it: a request, the agent or the CLI (manual), or a "
        "schedule. Set on pipeline runs; their block runs point at them (parent_id).",
    )
    schedule_id: int | None = Field(default=None, description="The schedule that started it.")
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class KernelOut(Output):
    state: str = Field(description="not_started, starting, idle, busy or restarting.")
    kernel_id: str | None
    kernel_name: str
    generation: int = Field(description="Kernel starts so far, restarts included.")
    started_at: datetime | None
    last_activity: datetime | None
    reset_at: datetime | None = Field(description="When the kernel's state was last lost.")
    reset_reason: str
    queued_run_ids: list[int]
