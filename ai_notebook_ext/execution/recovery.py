"""Startup recovery: runs left queued or running by a stopped server become interrupted."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.engine import URL

from ..store.database import make_sync_engine
from ..store.models import ProjectKernel, Run
from ..store.types import utcnow

INTERRUPTED = "the server stopped before this run finished"


def recover(url: str | URL) -> int:
    """Mark unfinished runs interrupted and forget kernels of the previous server process."""
    engine = make_sync_engine(url)
    now = utcnow()
    try:
        with engine.begin() as conn:
            result = conn.execute(
                update(Run)
                .where(Run.status.in_(("queued", "running")))
                .values(status="interrupted", finished_at=now, message=INTERRUPTED)
            )
            conn.execute(
                update(ProjectKernel)
                .where(ProjectKernel.kernel_id.is_not(None))
                .values(kernel_id=None, reset_at=now, reset_reason="server restarted")
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()
