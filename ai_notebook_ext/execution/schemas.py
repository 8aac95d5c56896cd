"""Response models of runs and kernels (the OpenAPI schemas come from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..projects.schemas import Output

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


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
        description="ename, evalue, traceback and reason (error, timeout, kernel_died)."
    )
    message: str = Field(description="A short summary of how the run ended.")
    kernel_generation: int | None
    fingerprint: str | None = Field(
        default=None, description="The block's fingerprint (its code and upstream) it ran with."
    )
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
