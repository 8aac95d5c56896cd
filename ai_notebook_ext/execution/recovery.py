"""Startup recovery: runs left queued or running by a stopped server become interrupted.

With several servers on one database (see ``servers/``), only the runs of dead servers
(stale heartbeat, or a process of this host that is gone) and of no server (rows older
than migration 0012) are touched; a live server's runs are its own. What has no owning
server on record (dataset reports, uploads being read, project kernels) is only reset
when no other server lives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import URL

from ..servers.liveness import is_alive
from ..store.database import make_sync_engine
from ..store.dataset_models import DatasetReport, DatasetVersion
from ..store.models import Block, ProjectKernel, Run
from ..store.server_models import ProjectLease, ServerRow
from ..store.types import utcnow

INTERRUPTED = "the server stopped before this run finished"
INTERRUPTED_REPORT = "the server stopped before this report was made; ask for it again"
INTERRUPTED_UPLOAD = "the server stopped while this upload was being read; upload it again"


class Recovery(NamedTuple):
    runs: int  # runs marked interrupted
    alone: bool  # no other server lives: everything unowned was reset too


def recover(
    url: str | URL,
    *,
    me: str | None = None,
    dead_after: float = 30.0,
    register: dict[str, Any] | None = None,
) -> Recovery:
    """Mark unfinished runs of dead servers interrupted; when no other server lives, also
    unfinished dataset reports failed, background uploads still being read broken, and
    forget project kernels. ``me``: this server's id; ``register``: its ``servers`` row,
    written in the same transaction (one connection at startup)."""
    engine = make_sync_engine(url)
    now = utcnow()
    try:
        with engine.begin() as conn:
            if register is not None:
                conn.execute(insert(ServerRow.__table__).values(register))
                me = register["id"]
            servers = conn.execute(select(ServerRow.__table__)).all()
            others = [r for r in servers if r.id != me]
            live = [r.id for r in others if is_alive(r, now, dead_after, by_pid=True)]
            dead = [r.id for r in others if r.id not in live]
            unfinished = Run.status.in_(("queued", "running"))
            if live:
                unfinished &= Run.server_id.is_(None) | Run.server_id.not_in(live)
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
            if dead:
                conn.execute(delete(ProjectLease).where(ProjectLease.server_id.in_(dead)))
                conn.execute(delete(ServerRow).where(ServerRow.id.in_(dead)))
            if not live:
                _reset_unowned(conn, now)
            return Recovery(int(result.rowcount or 0), not live)
    finally:
        engine.dispose()


def others_alive(url: str | URL, *, me: str | None, dead_after: float = 30.0) -> bool:
    """Whether a server other than ``me`` lives (after ``recover`` forgot the dead)."""
    engine = make_sync_engine(url)
    now = utcnow()
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(ServerRow.__table__)).all()
        return any(r.id != me and is_alive(r, now, dead_after, by_pid=True) for r in rows)
    finally:
        engine.dispose()


def _reset_unowned(conn: Any, now: datetime) -> None:
    """Work recorded without a server: only safe to reset when no other server lives."""
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
