"""After a version is recorded: its quality checks and the event telling subscribers, and
for a background upload first the rest of its processing (the full read, the profile).

A background upload answers once the schema is read; the row count needs a read of the
whole file, which runs here in a task. The version stays 'processing' until all is done,
and becomes 'broken' if the file turns out unreadable further down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ..events import DATASET_VERSION, Events
from ..store import Database
from ..store.dataset_models import DatasetVersion
from . import worker
from .formats import FormatError
from .incoming import Incoming
from .profiles import profile_quietly
from .readoptions import ReadOptions
from .storage import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewVersion:
    """The version being processed: what its checks, status and event need."""

    project_id: int
    name: str  # the dataset's
    version_id: int
    dataset_id: int
    number: int
    source: str


class VersionProcessing:
    """Checks and announces new versions; completes background uploads in tasks."""

    def __init__(
        self, db: Database, store: BlobStore, events: Events, on_version: Any = None
    ) -> None:
        self.db = db
        self.store = store
        self.events = events
        self._tasks: set[asyncio.Future[None]] = set()
        # async (version_id, dataset_id) -> (all passed or None, failed rules); the rules
        self.on_version = on_version

    def start(self, new: NewVersion, incoming: Incoming, fmt: str, read: ReadOptions) -> None:
        """Complete a background upload's version in a task (see ``_complete``)."""
        task = asyncio.ensure_future(self._complete(new, incoming, fmt, read))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def announce(
        self,
        new: NewVersion,
        row_count: int | None,
        problem: str = "",
        *,
        ready_after_checks: bool = False,
    ) -> None:
        """Run the quality checks of a new version, then tell subscribers about it."""
        passed, failed = None, []
        if self.on_version is not None and not problem:
            try:
                passed, failed = await self.on_version(new.version_id, new.dataset_id)
            except Exception as exc:  # the version stands; POST .../quality can try again
                log.warning(
                    "ai_notebook_ext: quality checks of version %s: %s", new.version_id, exc
                )
        if ready_after_checks:
            await self._set_status(new.version_id, "ready", row_count, "")
        self.events.emit(
            DATASET_VERSION,
            {
                "project_id": new.project_id,
                "dataset_id": new.dataset_id,
                "name": new.name,
                "version": new.number,
                "status": "broken" if problem else "ready",
                "row_count": row_count if row_count is not None else -1,
                "source": new.source,
                "quality_passed": passed,
                "quality_failed": failed,
            },
        )

    async def _complete(
        self, new: NewVersion, incoming: Incoming, fmt: str, read: ReadOptions
    ) -> None:
        """The rest of a background upload: the full read (row count, the columns' types
        from every row), profile, checks; the version is 'ready' once all are done."""
        store, version_id = self.store, new.version_id
        try:
            schema = await worker.run(
                worker.read_blob,
                store.url,
                store.options,
                incoming.digest,
                fmt,
                read,
                lane=new.project_id,
            )
        except FormatError as exc:
            await self._set_status(version_id, "broken", None, str(exc))
            await self.announce(new, None, str(exc))
            return
        except Exception:
            log.exception("ai_notebook_ext: reading dataset version %s", version_id)
            await self._set_status(version_id, "broken", None, "the file could not be read")
            return
        await self._set_status(version_id, "processing", schema.row_count, "", schema.columns)
        await profile_quietly(self.db, store, incoming.digest, fmt, read, new.project_id)
        await self.announce(new, schema.row_count, ready_after_checks=True)

    async def _set_status(
        self,
        version_id: int,
        status: str,
        row_count: int | None,
        problem: str,
        columns: list[dict[str, str]] | None = None,
    ) -> None:
        async with self.db.session() as session:
            version = await session.get(DatasetVersion, version_id)
            if version is not None:
                version.status, version.row_count, version.problem = status, row_count, problem
                if columns is not None:
                    version.columns = columns

    async def stop(self) -> None:
        """Server shutdown: background uploads stop (their versions stay 'processing')."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
