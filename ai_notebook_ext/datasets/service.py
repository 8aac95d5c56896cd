"""DatasetService: the one entry point to a project's datasets, put together from parts
of one responsibility each (handlers, bundles, backups, agent tools and kernel links call
this, not the parts).

Viewers read (``reading``); editors upload and register (``ingest``), change and delete
(``changes``). What follows a new version is ``processing``'s; the kernels' manifest is
``manifest``'s and the removal of unused blobs ``blobs``'. Work on files runs in threads
or the data worker so the server keeps answering.
"""

from __future__ import annotations

import os
from typing import Any

from ..events import Events
from ..projects.locks import KeyedLocks
from ..projects.users import Actor
from ..store import Database
from .blobs import collect
from .changes import DatasetChanges
from .formats import Schema
from .incoming import Incoming
from .ingest import DatasetIngest
from .manifest import write_manifest
from .processing import VersionProcessing
from .reading import DatasetReader
from .readoptions import ReadOptions
from .schemas import DatasetOut, DatasetUpdate, SchemaDiff, UploadOut, VersionOut
from .storage import BlobStore


class DatasetService:
    """The datasets of projects, backed by the database and a blob store."""

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        locks: KeyedLocks,
        events: Events,
        *,
        root_dir: str,
        staging_dir: str,
        allow_hidden: bool = False,
        on_version: Any = None,
    ) -> None:
        self.db = db
        self.store = store
        self.locks = locks
        self.events = events
        self.root_dir = os.path.realpath(root_dir)
        self.allow_hidden = allow_hidden
        self.staging_dir = staging_dir
        # on_version: async (version_id, dataset_id) -> (all passed or None, failed rules)
        self.processing = VersionProcessing(db, store, events, on_version)
        self.reader = DatasetReader(db, store)
        self.intake = DatasetIngest(
            db,
            store,
            locks,
            self.processing,
            root_dir=self.root_dir,
            staging_dir=staging_dir,
            allow_hidden=allow_hidden,
        )
        self.changes = DatasetChanges(db, store, locks)

    # --- reading (reading.py) -----------------------------------------------------------

    async def list(self, actor: Actor, project_id: int) -> list[DatasetOut]:
        return await self.reader.list(actor, project_id)

    async def get(self, actor: Actor, project_id: int, dataset_id: int) -> DatasetOut:
        return await self.reader.get(actor, project_id, dataset_id)

    async def versions(self, actor: Actor, project_id: int, dataset_id: int) -> list[VersionOut]:
        return await self.reader.versions(actor, project_id, dataset_id)

    async def version(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> VersionOut:
        return await self.reader.version(actor, project_id, dataset_id, number)

    async def blob_of(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> tuple[str, str, str, int]:
        """(blob, format, download name, size) of a version the caller may read."""
        return await self.reader.blob_of(actor, project_id, dataset_id, number)

    async def diff(
        self, actor: Actor, project_id: int, dataset_id: int, base: int, other: int
    ) -> SchemaDiff:
        return await self.reader.diff(actor, project_id, dataset_id, base, other)

    async def profile(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> dict[str, Any]:
        """The version's quick profile: stored once per content, computed if missing."""
        return await self.reader.profile(actor, project_id, dataset_id, number)

    async def sample(
        self, actor: Actor, project_id: int, dataset_id: int, number: int, rows: int = 5
    ) -> list[dict[str, Any]]:
        """The first rows of a version (read in the worker)."""
        return await self.reader.sample(actor, project_id, dataset_id, number, rows)

    # --- new versions (ingest.py, processing.py) ----------------------------------------

    async def check_upload(self, actor: Actor, project_id: int) -> None:
        """Refuse an upload before its body arrives (project, role)."""
        await self.intake.check_upload(actor, project_id)

    async def ingest(
        self,
        actor: Actor,
        project_id: int,
        name: str,
        incoming: Incoming,
        *,
        background: bool = False,
    ) -> UploadOut:
        """Validate the file, store its blob and record a version (unless unchanged)."""
        return await self.intake.ingest(actor, project_id, name, incoming, background=background)

    async def register(
        self,
        actor: Actor,
        project_id: int,
        name: str,
        path: str,
        fmt: str | None,
        read: ReadOptions | None = None,
    ) -> UploadOut:
        """A file under the server's root dir becomes a version (its bytes are copied)."""
        return await self.intake.register(actor, project_id, name, path, fmt, read)

    async def record_version(
        self,
        actor: Actor | None,
        project_id: int,
        name: str,
        incoming: Incoming,
        schema: Schema,
        user_id: int | None = None,
    ) -> UploadOut:
        """Record a version of a stored blob; ``actor`` None: a kernel's write."""
        return await self.intake.record_version(actor, project_id, name, incoming, schema, user_id)

    async def stop(self) -> None:
        """Server shutdown: background uploads stop (their versions stay 'processing')."""
        await self.processing.stop()

    # --- changes (changes.py), manifest and blob cleanup --------------------------------

    async def update(
        self, actor: Actor, project_id: int, dataset_id: int, data: DatasetUpdate
    ) -> DatasetOut:
        return await self.changes.update(actor, project_id, dataset_id, data)

    async def delete(self, actor: Actor, project_id: int, dataset_id: int) -> None:
        await self.changes.delete(actor, project_id, dataset_id)

    async def delete_version(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> None:
        await self.changes.delete_version(actor, project_id, dataset_id, number)

    async def write_manifest(self, project_id: int) -> None:
        """Rewrite the project's manifest for kernels (see ``manifest.write_manifest``)."""
        await write_manifest(self.db, self.store, self.locks, project_id)

    async def collect(self, blobs: set[str]) -> None:
        """Remove blobs no version references any more (see ``blobs.collect``)."""
        await collect(self.db, self.store, self.locks, blobs)
