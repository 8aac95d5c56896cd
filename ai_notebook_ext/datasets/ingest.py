"""Files becoming dataset versions: uploads, registered files under the root dir, and
(through ``record_version``) kernels' writes.

Ingest reads the whole file with the real parser before anything is stored, stores the
blob, then records the version; the same content as the latest version records nothing
new. What follows a recorded version (checks, the event, a background upload's full read)
is ``processing.VersionProcessing``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from sqlalchemy import select

from ..errors import BadRequest, ServiceUnavailable
from ..projects.access import authorize
from ..projects.locks import KeyedLocks
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset, DatasetVersion
from ..store.types import utcnow
from . import worker
from .blobs import blob_lock
from .formats import FormatError, Schema
from .incoming import Incoming, below_root, display_name
from .manifest import write_manifest
from .processing import NewVersion, VersionProcessing
from .profiles import profile_quietly
from .readoptions import ReadOptions
from .schemas import UploadOut
from .storage import BlobStore, copy_and_hash
from .views import dataset_outs, numbered, version_out, versions_of


class DatasetIngest:
    """Validates files, stores their blobs and records versions."""

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        locks: KeyedLocks,
        processing: VersionProcessing,
        *,
        root_dir: str,
        staging_dir: str,
        allow_hidden: bool = False,
    ) -> None:
        self.db = db
        self.store = store
        self.locks = locks
        self.processing = processing
        self.root_dir = root_dir
        self.staging_dir = staging_dir
        self.allow_hidden = allow_hidden

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
        await write_manifest(self.db, self.store, self.locks, project_id)
        number, fmt = version.number, schema.format
        new = NewVersion(project_id, name, version_id, dataset_id, number, incoming.source)
        if schema.row_count < 0:  # a background upload: count, profile and check later
            self.processing.start(new, incoming, fmt, ReadOptions.of(schema.read_options))
        else:
            await self.processing.announce(new, schema.row_count)
        async with self.db.session() as session:
            rows = await versions_of(session, dataset_id)
            dataset = await session.get(Dataset, dataset_id)
            assert dataset is not None
            return UploadOut(
                dataset=(await dataset_outs(session, [dataset]))[0],
                version=await version_out(session, numbered(rows, number), rows),
                created=True,
            )
