"""Per-project FIFO queues: runs of one project execute one at a time in arrival order,
different projects run concurrently. Workers exist only while their queue has work."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class ProjectQueues:
    """Feeds run ids to ``process`` one at a time per project."""

    def __init__(self, process: Callable[[int, int], Awaitable[None]]) -> None:
        self._process = process
        self._queues: dict[int, deque[int]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._current: dict[int, int] = {}
        self.closed = False

    def submit(self, project_id: int, run_id: int) -> None:
        if self.closed:
            raise RuntimeError("the server is stopping")
        self._queues.setdefault(project_id, deque()).append(run_id)
        if project_id not in self._workers:
            self._workers[project_id] = asyncio.ensure_future(self._work(project_id))

    def queued(self, project_id: int) -> list[int]:
        """Run ids waiting (not the one running), in order."""
        return list(self._queues.get(project_id, ()))

    def current(self, project_id: int) -> int | None:
        return self._current.get(project_id)

    def remove(self, project_id: int, run_id: int) -> bool:
        """Take a queued run out of the queue; False if it is not waiting."""
        queue = self._queues.get(project_id)
        if queue and run_id in queue:
            queue.remove(run_id)
            return True
        return False

    async def _work(self, project_id: int) -> None:
        queue = self._queues[project_id]
        try:
            while queue:
                run_id = queue.popleft()
                self._current[project_id] = run_id
                try:
                    await self._process(project_id, run_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("ai_notebook_ext: run %s failed unexpectedly", run_id)
                finally:
                    self._current.pop(project_id, None)
        finally:
            self._workers.pop(project_id, None)
            if not queue:
                self._queues.pop(project_id, None)

    async def close(self) -> list[int]:
        """Stop all workers; returns the run ids that were running or waiting."""
        self.closed = True
        pending = [rid for q in self._queues.values() for rid in q] + list(self._current.values())
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        return pending
