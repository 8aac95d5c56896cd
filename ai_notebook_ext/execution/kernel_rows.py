"""A project's kernel row (``project_kernels``): its generations and why state was lost.

Each start or restart of a project's kernel counts a new generation, so that later code
can tell that results of earlier generations are gone; a stop clears the kernel id.
"""

from __future__ import annotations

from ..store import Database
from ..store.models import ProjectKernel
from ..store.types import utcnow


async def record_start(
    db: Database, project_id: int, kernel_id: str, kernel_name: str, reason: str
) -> int:
    """Persist a new generation; a non-empty reason means earlier state was lost."""
    async with db.session() as session:
        row = await session.get(ProjectKernel, project_id)
        now = utcnow()
        if row is None:
            row = ProjectKernel(project_id=project_id, generation=0, reset_reason="")
            session.add(row)
        row.generation = (row.generation or 0) + 1
        row.kernel_id = kernel_id
        row.kernel_name = kernel_name
        row.started_at = now
        row.reset_at = now
        row.reset_reason = reason or "kernel started"
        return row.generation


async def record_stop(db: Database, project_id: int, reason: str) -> None:
    """The project has no kernel any more (shut down), and why."""
    async with db.session() as session:
        row = await session.get(ProjectKernel, project_id)
        if row is not None:
            row.kernel_id = None
            row.reset_at = utcnow()
            row.reset_reason = reason
