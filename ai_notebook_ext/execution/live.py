"""LiveRun: one block run from its request's arrival until it has ended.

A LiveRun is reserved synchronously when the request arrives (its queue ticket keeps the
arrival order), gets its row and code snapshot when it is submitted, is worked by its
project's queue, and is ended exactly once by the ending step, which resolves ``ended``.
Whoever waits for the run (an HTTP request, a pipeline, the agent) awaits ``ended``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import logs
from .queue import Ticket
from .schemas import RunOut

if TYPE_CHECKING:
    from . import runner

log = logging.getLogger(__name__)


def _future() -> asyncio.Future[RunOut | None]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class LiveRun:
    """A block run in flight: its place in the queue, what it runs, how to stop it."""

    ticket: Ticket
    run: RunOut | None = None  # the row as written (None until submitted)
    project_name: str = ""
    working_dir: str = ""
    # The request in the kernel once the code was sent (before the row when the kernel
    # was free, or ahead of time by a pipeline; else by the worker).
    sent: runner.Sent | None = None
    source: str | None = None  # code sent ahead of the row, or a held run's (None: read)
    expected: tuple[str, str] | None = None  # (source, fingerprint) known by the caller
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    # The run as it ended (None if its end was recorded by someone else, e.g. a cancel
    # while the server stops; read the row then).
    ended: asyncio.Future[RunOut | None] = field(default_factory=_future)
    withdrawn: bool = False  # sent ahead, then not wanted: drained, never recorded
    # Called with the ended run by the ending step itself, before ``ended`` wakes anyone
    # (a request answers there: its task would resume only behind the loop's other work).
    listeners: list[Callable[[RunOut], None]] = field(default_factory=list)
    request_id: str | None = field(default_factory=logs.current_request_id)  # for logs

    @property
    def project_id(self) -> int:
        return self.ticket.project_id

    @property
    def id(self) -> int | None:
        return self.run.id if self.run is not None else None

    def end(self, final: RunOut | None) -> None:
        """Resolve ``ended`` (only the first call counts)."""
        if self.ended.done():
            return
        if final is not None:
            for listener in self.listeners:
                try:
                    listener(final)
                except Exception:  # the listener's problem: the run has ended all the same
                    log.exception("ai_notebook_ext: reporting the end of run %s", final.id)
        self.ended.set_result(final)
