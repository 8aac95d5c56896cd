"""Startup recovery: runs left queued or running by a stopped server become interrupted."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import URL

from ..store.database import make_sync_engine
from ..store.dataset_models import DatasetReport, DatasetVersion
from ..store.models import Block, ProjectKernel, Run
from ..store.types import utcnow

INTERRUPTED = "the server stopped before this run finished"
INTERRUPTED_REPORT = "the server stopped before this report was made; ask for it again"
INTERRUPTED_UPLOAD = "the server stopped while this upload was being read; upload it again"


def recover(url: str | URL) -> int:
    """Mark unfinished runs interrupted, unfinished dataset reports failed and background
    uploads still being read broken, and forget kernels of the previous server process."""
    engine = make_sync_engine(url)
    now = utcnow()
    try:
        with engine.begin() as conn:
            unfinished = Run.status.in_(("queued", "running"))
            latest = conn.execute(
                select(Run.block_id, Run.id).where(unfinished, Run.block_id.is_not(None))
            ).all()
            result = conn.execute(
                update(Run)
                .where(unfinished)
                .values(status="interrupted", finished_at=now, message=INTERRUPTED)
            )
            for block_id, run_id in sorted(latest, key=lambda row: row[1]):
                conn.execute(  # the block points at its newest run, as after a clean stop
                    update(Block)
                    .where(Block.id == block_id)
                    .where((Block.last_run_id.is_(None)) | (Block.last_run_id < run_id))
                    .values(last_run_id=run_id)
                )
            conn.execute(
                update(DatasetVersion)
                .where(DatasetVersion.status == "processing")
                .values(status="broken", problem=INTERRUPTED_UPLOAD)
            )
            conn.execute(
                update(DatasetReport)
                .where(DatasetReport.status.in_(("queued", "running")))
                .values(status="failed", finished_at=now, message=INTERRUPTED_REPORT)
            )
            conn.execute(
                update(ProjectKernel)
                .where(ProjectKernel.kernel_id.is_not(None))
                .values(kernel_id=None, reset_at=now, reset_reason="server restarted")
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()
