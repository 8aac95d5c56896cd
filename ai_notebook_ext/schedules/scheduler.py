"""The scheduler: a background task that fires due schedules, once across servers.

It sleeps until the earliest ``next_run_at`` of the enabled schedules (at most ``poll``
seconds, so schedules another server added are seen too), or until ``wake()`` (a
schedule changed here). A due schedule is **claimed** before it fires::

    UPDATE schedules SET next_run_at = :next, last_run_at = :now
    WHERE id = :id AND next_run_at = :due AND enabled

Only the server whose UPDATE changed the row (rowcount 1) starts the run; on
PostgreSQL a second server's concurrent UPDATE waits for the first, re-reads the row,
finds ``next_run_at`` moved on and changes nothing. That claim is what keeps several
servers on one database from firing a schedule twice (``tests/test_schedules.py`` races
two schedulers on one PostgreSQL database). A server that dies between its claim and the
start of the run loses that one firing (at most once, never twice).

A due time older than ``missed_after`` seconds was missed (the servers were down or
stalled): ``missed = "skip"`` moves it to the next future time without firing,
``"run_once"`` fires it once. Either way the next time is computed from now, so a long
downtime never fires a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from ..errors import ApiError
from ..store import Database
from ..store.schedule_models import Schedule
from ..store.types import utcnow
from .cron import CronError, next_time

log = logging.getLogger(__name__)

table = Schedule.__table__
MISSED_POLICIES = ("skip", "run_once")
BATCH = 100  # due schedules read per round


@dataclass(frozen=True)
class Due:
    """A schedule whose time has come, as read before its claim."""

    id: int
    project_id: int
    cron: str
    timezone: str
    target: str
    block_id: int | None
    created_by: int | None
    due: datetime
    last_pipeline_run_id: int | None


# Starts the run of a claimed schedule and returns the pipeline run's id; an ApiError's
# message is kept as the schedule's last_error.
Fire = Callable[[Due], Awaitable[int]]


class Scheduler:
    """Fires due schedules through ``fire``; one per server."""

    def __init__(
        self,
        db: Database,
        fire: Fire,
        *,
        missed: str = "skip",
        missed_after: float = 60.0,
        poll: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if missed not in MISSED_POLICIES:
            raise ValueError(f"missed must be one of {MISSED_POLICIES}, got {missed!r}")
        self.db = db
        self.fire = fire
        self.missed = missed
        self.missed_after = missed_after
        self.poll = poll
        self.clock = clock
        self._changed = asyncio.Event()
        self._task: asyncio.Future[None] | None = None
        self._firing: set[asyncio.Future[None]] = set()
        self._stopped = False

    def start(self) -> None:
        """Start the background task (once; needs a running event loop)."""
        if self._task is None and not self._stopped:
            self._task = asyncio.ensure_future(self._loop())

    def wake(self) -> None:
        """Schedules changed: look again at what is due next."""
        self._changed.set()

    async def stop(self) -> None:
        """Stop the task; runs already started go on as ordinary pipeline runs."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.settle()

    async def settle(self) -> None:
        """Wait (10 s at most) for the runs being started: their pipeline rows and the
        schedules' notes."""
        if self._firing:
            await asyncio.wait(set(self._firing), timeout=10)

    async def _loop(self) -> None:
        while True:
            self._changed.clear()
            try:
                await self.tick()
                delay = await self.delay()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again later
                log.exception("ai_notebook_ext: scheduler round failed")
                delay = min(self.poll, 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), delay)

    async def delay(self) -> float:
        """Seconds until the earliest enabled schedule is due (at most ``poll``)."""
        async with self.db.connection() as conn:
            earliest = (
                await conn.execute(
                    select(func.min(table.c.next_run_at)).where(table.c.enabled.is_(True))
                )
            ).scalar()
        if earliest is None:
            return self.poll
        if earliest.tzinfo is None:  # func.min() loses UTCDateTime's processing on SQLite
            earliest = datetime.fromisoformat(str(earliest)).replace(tzinfo=self.clock().tzinfo)
        return max(0.0, min(self.poll, (earliest - self.clock()).total_seconds()))

    async def tick(self) -> list[int]:
        """Claim and fire every due schedule; the ids of those this scheduler fired."""
        fired: list[int] = []
        while True:
            now = self.clock()
            async with self.db.connection() as conn:
                rows = (
                    await conn.execute(
                        select(
                            table.c.id,
                            table.c.project_id,
                            table.c.cron,
                            table.c.timezone,
                            table.c.target,
                            table.c.block_id,
                            table.c.created_by,
                            table.c.next_run_at,
                            table.c.last_pipeline_run_id,
                        )
                        .where(table.c.enabled.is_(True), table.c.next_run_at <= now)
                        .order_by(table.c.next_run_at, table.c.id)
                        .limit(BATCH)
                    )
                ).all()
            for row in rows:
                due = Due(*row)
                if await self._claim(due, now):
                    fired.append(due.id)
            if len(rows) < BATCH:
                return fired

    async def _claim(self, due: Due, now: datetime) -> bool:
        """Move the schedule on; True if this call won it and started its run."""
        late = (now - due.due).total_seconds() > self.missed_after
        fire = not late or self.missed == "run_once"
        try:
            following: datetime | None = next_time(due.cron, due.timezone, now)
            note = ""
        except CronError as exc:  # cannot happen for a validated cron; stop it cleanly
            following, note = None, f"stopped: {exc}"
        values: dict[str, object] = {"next_run_at": following}
        if fire:
            values["last_run_at"] = now
        elif not note:
            note = (
                f"missed {due.due.isoformat()} while no server ran it: skipped "
                "(AINotebookApp.schedule_missed = skip)"
            )
        if note:
            values["last_error"] = note
        async with self.db.connection() as conn:
            result = await conn.execute(
                update(table)
                .where(
                    table.c.id == due.id,
                    table.c.next_run_at == due.due,
                    table.c.enabled.is_(True),
                )
                .values(**values)
            )
        if result.rowcount != 1:
            return False  # another server claimed it, or it was changed meanwhile
        if not fire:
            log.info("ai_notebook_ext: schedule %s missed %s: skipped", due.id, due.due)
            return False
        task = asyncio.ensure_future(self._start(due))
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)
        return True

    async def _start(self, due: Due) -> None:
        """Start the claimed schedule's run and note the outcome on the schedule."""
        run_id: int | None = None
        try:
            run_id = await self.fire(due)
            error = ""
        except ApiError as exc:
            error = exc.message
        except Exception:
            log.exception("ai_notebook_ext: schedule %s could not start its run", due.id)
            error = "internal error starting the run; the server log has the details"
        values: dict[str, object] = {"last_error": error}
        if run_id is not None:
            values["last_pipeline_run_id"] = run_id
        try:
            async with self.db.connection() as conn:
                await conn.execute(update(table).where(table.c.id == due.id).values(**values))
        except Exception:
            log.exception("ai_notebook_ext: recording schedule %s's run", due.id)
