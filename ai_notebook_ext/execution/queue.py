"""Per-project FIFO queues: runs of one project execute one at a time in arrival order,
different projects run concurrently. Workers exist only while their queue has work.

Arrival order is the order of ``reserve`` calls, made before a request awaits anything
(authorization, database); the run is filled into its ticket later. The worker waits for
the ticket at the head, so a slow early request is not overtaken by a fast later one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import metrics
from ..errors import ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Ticket:
    """A place in a project's queue, holding a LiveRun once its run exists, or a job: work
    that needs the kernel to itself without being a block run (a pipeline's batch)."""

    project_id: int
    live: Any = None  # the LiveRun (see live.py)
    job: Callable[[], Awaitable[None]] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def _run_id(ticket: Ticket) -> int | None:
    return ticket.live.id if ticket.live is not None else None


class ProjectQueues:
    """Feeds LiveRuns to ``process`` one at a time per project, in ticket order."""

    def __init__(self, process: Callable[[Any], Awaitable[None]]) -> None:
        self._process = process
        self._queues: dict[int, deque[Ticket]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._current: dict[int, Any] = {}  # project -> the LiveRun working (None: a job)
        self.closed = False
        metrics.watch_queues(self)

    def reserve(self, project_id: int) -> Ticket:
        """Take the next place in the project's queue (call before any await)."""
        if self.closed:
            raise ServiceUnavailable("the server is stopping; try again when it is back")
        ticket = Ticket(project_id)
        self._queues.setdefault(project_id, deque()).append(ticket)
        if project_id not in self._workers:
            self._workers[project_id] = asyncio.ensure_future(self._work(project_id))
        return ticket

    @staticmethod
    def fill(ticket: Ticket, live: Any) -> None:
        """Give the ticket its LiveRun (None: the request failed; the place is skipped)."""
        ticket.live = live
        ticket.ready.set()

    @staticmethod
    def fill_job(ticket: Ticket, job: Callable[[], Awaitable[None]]) -> None:
        """Give the ticket a job to await when its turn comes."""
        ticket.job = job
        ticket.ready.set()

    def is_next(self, ticket: Ticket) -> bool:
        """Whether the ticket is at the head of its queue and no run of the project executes."""
        queue = self._queues.get(ticket.project_id)
        return bool(queue) and queue[0] is ticket and ticket.project_id not in self._current

    def queued(self, project_id: int) -> list[int]:
        """Run ids waiting (not the one running), in order."""
        ids = (_run_id(t) for t in self._queues.get(project_id, ()))
        return [i for i in ids if i is not None]

    def depth(self) -> int:
        """Places waiting in all projects' queues (not the ones running): a metric."""
        return sum(len(queue) for queue in list(self._queues.values()))

    def has_work(self, project_id: int) -> bool:
        """Whether a run or job of the project runs or waits (a request's place too)."""
        return bool(self._queues.get(project_id)) or project_id in self._current

    def remove(self, project_id: int, run_id: int) -> bool:
        """Take a queued run out of the queue; False if it is not waiting."""
        for ticket in self._queues.get(project_id, ()):
            if _run_id(ticket) == run_id:
                self._queues[project_id].remove(ticket)
                return True
        return False

    async def _work(self, project_id: int) -> None:
        queue = self._queues[project_id]
        try:
            while queue:
                ticket = queue[0]
                await ticket.ready.wait()
                if queue and queue[0] is ticket:
                    queue.popleft()
                if ticket.job is not None:
                    self._current[project_id] = None  # the kernel is taken
                    try:
                        await ticket.job()
                    finally:
                        self._current.pop(project_id, None)
                    continue
                if ticket.live is None:
                    continue
                self._current[project_id] = ticket.live
                try:
                    await self._process(ticket.live)
                except asyncio.CancelledError:
                    if self.closed:
                        raise
                    log.exception("ai_notebook_ext: run %s was cancelled", ticket.live.id)
                except Exception:
                    log.exception("ai_notebook_ext: run %s failed unexpectedly", ticket.live.id)
                finally:
                    self._current.pop(project_id, None)
        finally:
            self._workers.pop(project_id, None)
            if not queue:
                self._queues.pop(project_id, None)

    async def close(self) -> list[Any]:
        """Stop all workers; returns the LiveRuns that were running or waiting."""
        self.closed = True
        pending = [t.live for q in self._queues.values() for t in q if t.live is not None]
        pending += [live for live in self._current.values() if live is not None]
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        return pending
