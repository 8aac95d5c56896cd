"""This server in the ``servers`` table: its id, its heartbeat, and the sweep of dead
servers' runs.

Every server process makes a uuid at start and writes its row (``register``, before
startup recovery). A background task (``start``) renews the heartbeat every
``interval`` seconds, renews this server's project leases with it, closes the runs of
servers whose heartbeat is older than ``dead_after`` (``sweep``: ``failed``, with an
error naming the dead server) and prunes old event payloads. A clean stop gives the
leases back and deletes the row. Clocks: heartbeats are the servers' own UTC clocks, so
servers on several hosts need synchronized clocks (NTP), well within ``dead_after``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..store import Database
from ..store.database import make_sync_engine
from ..store.models import Block, Run
from ..store.server_models import EventPayload, ProjectLease, ServerRow
from ..store.types import utcnow
from .leases import ProjectLeases
from .liveness import HOSTNAME, is_alive

log = logging.getLogger(__name__)

servers = ServerRow.__table__
runs = Run.__table__
blocks = Block.__table__
PAYLOAD_KEEP = 60.0  # seconds an oversized event's payload is kept for the other servers


def died_message(row: Any, dead_after: float) -> str:
    """What a run of a dead server says it ended with."""
    return (
        f"the server running this ({row.hostname}, pid {row.pid}) stopped answering: no "
        f"heartbeat for over {dead_after:g} s; its outcome is unknown, run it again"
    )


class ServerRegistry:
    """This server's row, heartbeat and sweep."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 10.0,
        dead_after: float = 30.0,
        leases: ProjectLeases | None = None,
        run_events: Any = None,
    ) -> None:
        self.db = db
        self.id = str(uuid.uuid4())
        self.hostname = HOSTNAME
        self.pid = os.getpid()
        self.interval = interval
        self.dead_after = dead_after
        self.leases = leases
        self.run_events = run_events  # RunEvents: status events of the runs a sweep closes
        self.on_peers: Any = None  # called with whether other servers live, every sweep
        self._task: asyncio.Future[None] | None = None

    def row(self) -> dict[str, Any]:
        """This server's ``servers`` row, as of now."""
        return self._row()

    def _row(self) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": self.id,
            "hostname": self.hostname,
            "pid": self.pid,
            "started_at": now,
            "heartbeat_at": now,
        }

    def register(self) -> None:
        """Write this server's row (sync: at startup, before recovery)."""
        engine = make_sync_engine(self.db.url)
        try:
            with engine.begin() as conn:
                conn.execute(insert(servers).values(self._row()))
        finally:
            engine.dispose()

    def start(self) -> None:
        """Start the heartbeat task (needs the running event loop)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ai_notebook_ext: server heartbeat")

    async def beat(self) -> None:
        """One heartbeat: the row, the leases, the sweep, the pruning."""
        async with self.db.connection() as conn:
            result = await conn.execute(
                update(servers).where(servers.c.id == self.id).values(heartbeat_at=utcnow())
            )
            if not result.rowcount:
                log.warning(
                    "ai_notebook_ext: another server found this one dead (no heartbeat for "
                    "%g s: was the event loop blocked?) and closed its runs; registering again",
                    self.dead_after,
                )
                await conn.execute(insert(servers).values(self._row()))
        if self.leases is not None:
            await self.leases.renew()
        await self.sweep()
        if self.db.backend != "sqlite":
            async with self.db.connection() as conn:
                old = utcnow() - timedelta(seconds=PAYLOAD_KEEP)
                await conn.execute(delete(EventPayload).where(EventPayload.created_at < old))

    async def sweep(self) -> list[Any]:
        """Close the unfinished runs of servers whose heartbeat is stale (``failed``, with
        the dead server named); forget those servers and their leases. Returns the runs
        this server closed (another server sweeping at the same time closes the others)."""
        now = utcnow()
        closed: list[Any] = []
        async with self.db.connection() as conn:
            rows = (await conn.execute(select(servers))).all()
            dead = [r for r in rows if r.id != self.id and not is_alive(r, now, self.dead_after)]
            if self.on_peers is not None:
                self.on_peers(len(rows) - len(dead) - any(r.id == self.id for r in rows) > 0)
            for row in dead:
                message = died_message(row, self.dead_after)
                error = {"ename": "ServerDied", "evalue": message, "reason": "server"}
                ended = (
                    await conn.execute(
                        update(runs)
                        .where(runs.c.server_id == row.id, runs.c.status.in_(RUN_OPEN))
                        .values(status="failed", finished_at=now, message=message, error=error)
                        .returning(
                            runs.c.id,
                            runs.c.project_id,
                            runs.c.block_id,
                            runs.c.parent_id,
                            runs.c.kind,
                        )
                    )
                ).all()
                for run in sorted(ended, key=lambda r: r.id):
                    if run.block_id is not None:
                        await conn.execute(point_block_at(run.block_id, run.id))
                closed += [(run, message, error) for run in ended]
                await conn.execute(delete(ProjectLease).where(ProjectLease.server_id == row.id))
                await conn.execute(delete(servers).where(servers.c.id == row.id))
        for run, message, error in closed:
            log.warning("ai_notebook_ext: run %s failed: %s", run.id, message)
            if self.run_events is not None:
                self.run_events.status(
                    run.project_id,
                    run.id,
                    run.block_id,
                    "failed",
                    message=message,
                    error=error,
                    pipeline_id=run.parent_id,
                    kind=run.kind,
                )
        return [run for run, _, _ in closed]

    async def stop(self) -> None:
        """A clean stop: no more heartbeats, leases given back, the row deleted (the
        server's runs were ended by the run service already)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            if self.leases is not None:
                await self.leases.release_all()
            async with self.db.connection() as conn:
                await conn.execute(delete(servers).where(servers.c.id == self.id))
        except Exception:  # it goes stale and is swept
            log.exception("ai_notebook_ext: removing this server's row")


RUN_OPEN = ("queued", "running")


def point_block_at(block_id: int, run_id: int) -> Any:
    """The block points at its newest run, as after a clean stop."""
    return (
        update(blocks)
        .where(blocks.c.id == block_id)
        .where(blocks.c.last_run_id.is_(None) | (blocks.c.last_run_id < run_id))
        .values(last_run_id=run_id)
    )
