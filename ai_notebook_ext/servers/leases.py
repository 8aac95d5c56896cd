"""Per-project run leases: a project's runs never overlap across servers.

Before the first run or job of a project's queue works on this server's kernel, the
queue takes the project's lease (``project_leases``): one conditional upsert that only
wins when there is no lease, it has expired, or it is ours already. While the queue has
work it keeps the lease (the registry renews every lease of this server with its
heartbeat); when the queue has been empty for ``linger`` seconds it gives it back. A
server that cannot get it polls every ``poll`` seconds; its runs stay ``queued``
meanwhile. The lease of a server that died expires ``ttl`` seconds after its last
heartbeat.

On SQLite there is one server only: no lease is needed, and the queue is built without
one (``ProjectLeases.needed``), so the single-server hot path makes no extra statement.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ..store import Database
from ..store.server_models import ProjectLease
from ..store.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

leases = ProjectLease.__table__


@cache
def _acquire_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE ... WHERE ours or expired, RETURNING: a row back
    means the lease is ours (one atomic statement on both backends)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(leases).values(
        project_id=bindparam("project_id"),
        server_id=bindparam("server_id"),
        expires_at=bindparam("expires_at"),
    )
    return stmt.on_conflict_do_update(
        index_elements=[leases.c.project_id],
        set_={"server_id": stmt.excluded.server_id, "expires_at": stmt.excluded.expires_at},
        where=(leases.c.server_id == stmt.excluded.server_id)
        | (leases.c.expires_at < bindparam("now", type_=UTCDateTime())),
    ).returning(leases.c.project_id)


class ProjectLeases:
    """This server's leases on projects."""

    def __init__(
        self, db: Database, server_id: str, ttl: float, poll: float = 0.2, linger: float = 1.0
    ) -> None:
        self.db = db
        self.server_id = server_id
        self.ttl = ttl
        self.poll = poll
        self.linger = linger  # seconds an idle queue keeps the lease (see execution/queue.py)
        self._held: set[int] = set()

    @staticmethod
    def needed(db: Database) -> bool:
        """Whether several servers can share the database (not SQLite)."""
        return db.backend != "sqlite"

    def holds(self, project_id: int) -> bool:
        """Whether this server holds the project's lease (no await: the fast path asks)."""
        return project_id in self._held

    async def try_acquire(self, project_id: int) -> bool:
        """Take the lease if it is free, expired or ours; True when it is ours. A project
        deleted meanwhile (by another server) needs no lease: True, and its runs end as
        the project's rows are gone."""
        now = utcnow()
        try:
            async with self.db.connection() as conn:
                row = (
                    await conn.execute(
                        _acquire_statement(self.db.backend),
                        {
                            "project_id": project_id,
                            "server_id": self.server_id,
                            "expires_at": now + timedelta(seconds=self.ttl),
                            "now": now,
                        },
                    )
                ).first()
        except IntegrityError:  # the project's row is gone (foreign key)
            log.warning(
                "ai_notebook_ext: project %s is gone; its queued work needs no lease", project_id
            )
            return True
        if row is not None:
            self._held.add(project_id)
        return row is not None

    async def acquire(self, project_id: int, wanted: Any = lambda: True) -> bool:
        """Wait for the lease while ``wanted()`` (the queue still has work); True once it
        is ours, False if it is not wanted any more. A database error is logged and
        retried."""
        while wanted():
            try:
                if await self.try_acquire(project_id):
                    return True
            except Exception:
                log.exception("ai_notebook_ext: taking the run lease of project %s", project_id)
            await asyncio.sleep(self.poll)
        return False

    async def release(self, project_id: int) -> None:
        """Give the lease back (ours only: an expired one taken over stays the taker's)."""
        self._held.discard(project_id)
        try:
            async with self.db.connection() as conn:
                await conn.execute(
                    delete(leases).where(
                        leases.c.project_id == project_id, leases.c.server_id == self.server_id
                    )
                )
        except Exception:  # it expires anyway
            log.exception("ai_notebook_ext: giving back the run lease of project %s", project_id)

    async def renew(self) -> None:
        """Push the expiry of every lease of this server (the heartbeat calls this)."""
        if not self._held:
            return
        async with self.db.connection() as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.server_id == self.server_id)
                .values(expires_at=utcnow() + timedelta(seconds=self.ttl))
            )

    async def release_all(self) -> None:
        """Server shutdown: every lease of this server back."""
        self._held.clear()
        async with self.db.connection() as conn:
            await conn.execute(delete(leases).where(leases.c.server_id == self.server_id))
