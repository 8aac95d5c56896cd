"""Datasets and their versions: ingest, list, update, delete (with blob cleanup), diff,
download, quick profiles.

Viewers read; editors upload, register, change and delete. Ingest reads the whole file
with the real parser before anything is stored, stores the blob, then records the
version; the same content as the latest version records nothing new. Work on files runs
in threads so the server keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from sqlalchemy import delete, select

from ..errors import BadRequest, ServiceUnavailable, Unprocessable
from ..events import DATASET_VERSION, Events
from ..projects.access import authorize
from ..projects.locks import KeyedLocks
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset, DatasetProfile, DatasetVersion
from ..store.types import utcnow
from . import worker
from .formats import FormatError, Schema
from .incoming import Incoming, below_root, display_name
from .lookup import allowed_dataset
from .manifest import manifest_of
from .profiles import ensure_profile, profile_quietly
from .readoptions import ReadOptions
from .schemas import (
    DatasetOut,
    DatasetUpdate,
    SchemaDiff,
    UploadOut,
    VersionOut,
)
from .storage import BlobStore, copy_and_hash
from .views import dataset_outs, numbered, schema_diff, version_out, version_outs, versions_of

log = logging.getLogger(__name__)


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
        self._tasks: set[asyncio.Future[None]] = set()
        # async (version_id, dataset_id) -> (all passed or None, failed rules); the rules
        self.on_version = on_version

    # --- reading ------------------------------------------------------------------------

    async def list(self, actor: Actor, project_id: int) -> list[DatasetOut]:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "listing datasets")
            datasets = list(
                await session.scalars(
                    select(Dataset).where(Dataset.project_id == project_id).order_by(Dataset.name)
                )
            )
            return await dataset_outs(session, datasets)

    async def get(self, actor: Actor, project_id: int, dataset_id: int) -> DatasetOut:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            return (await dataset_outs(session, [dataset]))[0]

    async def versions(self, actor: Actor, project_id: int, dataset_id: int) -> list[VersionOut]:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            rows = await versions_of(session, dataset.id)
            return await version_outs(session, rows[::-1], {r.id: r.number for r in rows})

    async def version(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> VersionOut:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            rows = await versions_of(session, dataset.id)
            return await version_out(session, numbered(rows, number), rows)

    async def blob_of(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> tuple[str, str, str, int]:
        """(blob, format, download name, size) of a version the caller may read."""
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "downloading datasets"
            )
            v = numbered(await versions_of(session, dataset.id), number)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset.name)
            return v.blob, v.format, f"{safe}-v{v.number}.{v.format}", v.size

    async def diff(
        self, actor: Actor, project_id: int, dataset_id: int, base: int, other: int
    ) -> SchemaDiff:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            rows = await versions_of(session, dataset.id)
            a, b = numbered(rows, base), numbered(rows, other)
        return schema_diff(a, b)

    async def profile(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> dict[str, Any]:
        """The version's quick profile: stored once per content, computed if missing."""
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            v = numbered(await versions_of(session, dataset.id), number)
        try:
            read = ReadOptions.of(v.read_options)
            return await ensure_profile(self.db, self.store, v.blob, v.format, read, project_id)
        except worker.WorkerDied as exc:
            raise ServiceUnavailable(str(exc)) from None
        except Exception as exc:
            log.warning("ai_notebook_ext: profiling version %s: %s", v.id, exc)
            raise Unprocessable(
                f"the profile of version {number} could not be made: {exc}"
            ) from None

    async def sample(
        self, actor: Actor, project_id: int, dataset_id: int, number: int, rows: int = 5
    ) -> list[dict[str, Any]]:
        """The first rows of a version (read in the worker)."""
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            v = numbered(await versions_of(session, dataset.id), number)
        rows_out: list[dict[str, Any]] = await worker.run(
            worker.sample_blob,
            self.store.url,
            self.store.options,
            v.blob,
            v.format,
            rows,
            ReadOptions.of(v.read_options),
            lane=project_id,
        )
        return rows_out

    # --- writing ------------------------------------------------------------------------

    async def check_upload(self, actor: Actor, project_id: int) -> None:
        """Refuse an upload before its body arrives (project, role); an admitted one
        gets a data worker started meanwhile if there is none yet."""
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "uploading datasets")
        worker.prewarm()

    async def ingest(
        self,
        actor: Actor,
        project_id: int,
        name: str,
        incoming: Incoming,
        *,
        background: bool = False,
    ) -> UploadOut:
        """Validate the file, store its blob and record a version (unless unchanged).

        ``background``: only the schema is read before answering; the row count (a read
        of the whole file), the profile and the quality checks follow in a task, and a
        file that turns out broken further down becomes a 'broken' version."""
        await self.check_upload(actor, project_id)
        try:
            schema = await worker.run(
                worker.read_file,
                incoming.path,
                incoming.filename,
                incoming.declared,
                not background,
                incoming.read,
                lane=project_id,
            )
        except FormatError as exc:
            raise BadRequest(str(exc), details={"field": "body"}) from None
        except worker.WorkerDied as exc:
            raise ServiceUnavailable(str(exc)) from None
        move = incoming.source in ("upload", "register")  # our own staged copies
        async with self.locks.hold(blob_lock(incoming.digest)):  # no cleanup in between
            await asyncio.to_thread(self.store.put_file, incoming.path, incoming.digest, move=move)
            out = await self.record_version(actor, project_id, name, incoming, schema)
        if out.created and not background:
            read = ReadOptions.of(schema.read_options)
            await profile_quietly(
                self.db, self.store, incoming.digest, schema.format, read, project_id
            )
        return out

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
        await self.check_upload(actor, project_id)
        full = await asyncio.to_thread(below_root, self.root_dir, path, self.allow_hidden)
        # A private copy, hashed while copied: the stored bytes are the hashed bytes even
        # if the file changes meanwhile.
        copy, digest, size = await asyncio.to_thread(copy_and_hash, full, self.staging_dir)
        incoming = Incoming(
            copy, digest, size, os.path.basename(full), fmt, "register", read or ReadOptions()
        )
        try:
            return await self.ingest(actor, project_id, name, incoming)
        finally:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.unlink, copy)

    async def record_version(
        self,
        actor: Actor | None,
        project_id: int,
        name: str,
        incoming: Incoming,
        schema: Schema,
        user_id: int | None = None,
    ) -> UploadOut:
        """Record a version; ``actor`` None: a kernel's write, already authorized by the
        run that made it (``user_id`` its user)."""
        if actor is not None:
            user_id = actor.id
        async with self.locks.hold(("datasets", project_id)), self.db.session() as session:
            if actor is not None:
                await authorize(session, actor, project_id, "editor", "uploading datasets")
            dataset = await session.scalar(
                select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)
            )
            now = utcnow()
            if dataset is None:
                dataset = Dataset(
                    project_id=project_id,
                    name=name,
                    description="",
                    tags=[],
                    created_by=user_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(dataset)
                await session.flush()
            rows = await versions_of(session, dataset.id)
            latest = rows[-1] if rows else None
            if (
                latest is not None
                and latest.blob == incoming.digest
                and latest.format == schema.format
                and (latest.read_options or {}) == schema.read_options
                and latest.status == "ready"
            ):
                return UploadOut(
                    dataset=(await dataset_outs(session, [dataset]))[0],
                    version=await version_out(session, latest, rows),
                    created=False,
                )
            version = DatasetVersion(
                dataset_id=dataset.id,
                number=(latest.number + 1) if latest else 1,
                parent_id=latest.id if latest else None,
                blob=incoming.digest,
                size=incoming.size,
                format=schema.format,
                row_count=schema.row_count if schema.row_count >= 0 else None,
                columns=schema.columns,
                read_options=schema.read_options,
                source=incoming.source,
                status="ready" if schema.row_count >= 0 else "processing",
                problem="",
                filename=display_name(incoming.filename),
                created_by=user_id,
                created_at=now,
            )
            session.add(version)
            dataset.updated_at = now
            await session.flush()
            version_id, dataset_id = version.id, dataset.id
        await self.write_manifest(project_id)
        number, fmt = version.number, schema.format
        if schema.row_count < 0:  # a background upload: count, profile and check later
            read = ReadOptions.of(schema.read_options)
            task = asyncio.ensure_future(
                self._complete(
                    project_id, name, version_id, dataset_id, number, incoming, fmt, read
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._announce(
                project_id, name, version_id, dataset_id, number, incoming.source, schema.row_count
            )
        async with self.db.session() as session:
            rows = await versions_of(session, dataset_id)
            dataset = await session.get(Dataset, dataset_id)
            assert dataset is not None
            return UploadOut(
                dataset=(await dataset_outs(session, [dataset]))[0],
                version=await version_out(session, numbered(rows, number), rows),
                created=True,
            )

    async def _announce(
        self,
        project_id: int,
        name: str,
        version_id: int,
        dataset_id: int,
        number: int,
        source: str,
        row_count: int | None,
        problem: str = "",
        *,
        ready_after_checks: bool = False,
    ) -> None:
        """Run the quality checks of a new version, then tell subscribers about it."""
        passed, failed = None, []
        if self.on_version is not None and not problem:
            try:
                passed, failed = await self.on_version(version_id, dataset_id)
            except Exception as exc:  # the version stands; POST .../quality can try again
                log.warning("ai_notebook_ext: quality checks of version %s: %s", version_id, exc)
        if ready_after_checks:
            await self._set_status(version_id, "ready", row_count, "")
        self.events.emit(
            DATASET_VERSION,
            {
                "project_id": project_id,
                "dataset_id": dataset_id,
                "name": name,
                "version": number,
                "status": "broken" if problem else "ready",
                "row_count": row_count if row_count is not None else -1,
                "source": source,
                "quality_passed": passed,
                "quality_failed": failed,
            },
        )

    async def _complete(
        self,
        project_id: int,
        name: str,
        version_id: int,
        dataset_id: int,
        number: int,
        incoming: Incoming,
        fmt: str,
        read: ReadOptions,
    ) -> None:
        """The rest of a background upload: the full read (row count, the columns' types
        from every row), profile, checks; the version is 'ready' once all are done."""
        try:
            store = self.store
            schema = await worker.run(
                worker.read_blob,
                store.url,
                store.options,
                incoming.digest,
                fmt,
                read,
                lane=project_id,
            )
        except FormatError as exc:
            await self._set_status(version_id, "broken", None, str(exc))
            await self._announce(
                project_id, name, version_id, dataset_id, number, incoming.source, None, str(exc)
            )
            return
        except Exception:
            log.exception("ai_notebook_ext: reading dataset version %s", version_id)
            await self._set_status(version_id, "broken", None, "the file could not be read")
            return
        await self._set_status(version_id, "processing", schema.row_count, "", schema.columns)
        await profile_quietly(self.db, self.store, incoming.digest, fmt, read, project_id)
        await self._announce(
            project_id,
            name,
            version_id,
            dataset_id,
            number,
            incoming.source,
            schema.row_count,
            ready_after_checks=True,
        )

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

    async def update(
        self, actor: Actor, project_id: int, dataset_id: int, data: DatasetUpdate
    ) -> DatasetOut:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "changing datasets"
            )
            if data.description is not None:
                dataset.description = data.description
            if data.tags is not None:
                dataset.tags = sorted(set(data.tags))
            dataset.updated_at = utcnow()
            await session.flush()
            return (await dataset_outs(session, [dataset]))[0]

    async def delete(self, actor: Actor, project_id: int, dataset_id: int) -> None:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "deleting datasets"
            )
            blobs = {v.blob for v in await versions_of(session, dataset.id)}
            await session.execute(
                delete(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
            )
            await session.delete(dataset)
        await self.write_manifest(project_id)
        await self.collect(blobs)

    async def delete_version(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> None:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "deleting datasets"
            )
            version = numbered(await versions_of(session, dataset.id), number)
            blob = version.blob
            await session.delete(version)
        await self.write_manifest(project_id)
        await self.collect({blob})

    async def write_manifest(self, project_id: int) -> None:
        """The project's name -> versions map next to the blobs, for kernels' ``ain``
        (one writer per project at a time, each from the database as it is then)."""
        async with self.locks.hold(("manifest", project_id)):
            text = await manifest_of(self.db, project_id)
            key = self.store.manifest_key(project_id)
            await asyncio.to_thread(self.store.write_text, key, text)

    async def collect(self, blobs: set[str]) -> None:
        """Remove blobs (and their profiles) no version references any more. Each blob is
        checked and removed under its own lock, which ingest holds from storing a blob to
        recording the version that uses it."""
        for blob in sorted(blobs):
            async with self.locks.hold(blob_lock(blob)):
                async with self.db.session() as session:
                    used = await session.scalar(
                        select(DatasetVersion.id).where(DatasetVersion.blob == blob).limit(1)
                    )
                    if used is not None:
                        continue
                    await session.execute(delete(DatasetProfile).where(DatasetProfile.blob == blob))
                await asyncio.to_thread(self.store.delete, blob)


def blob_lock(blob: str) -> tuple[str, str]:
    """The lock key of storing one blob and of cleaning it up."""
    return ("blob", blob)
