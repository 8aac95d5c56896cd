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
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from ..errors import BadRequest, NotFound, ServiceUnavailable, Unprocessable
from ..events import DATASET_VERSION, Events
from ..projects.access import authorize
from ..projects.locks import KeyedLocks
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset, DatasetProfile, DatasetVersion, QualityResult
from ..store.models import User
from ..store.types import utcnow
from . import worker
from .formats import FormatError, Schema
from .lookup import allowed_dataset
from .schemas import (
    ColumnOut,
    DatasetOut,
    DatasetUpdate,
    QualityOut,
    SchemaDiff,
    TypeChange,
    UploadOut,
    VersionOut,
)
from .storage import BlobStore, copy_and_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """A complete local file about to become a version."""

    path: str
    digest: str
    size: int
    filename: str = ""
    declared: str | None = None
    source: str = "upload"


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
            return [await self._out(session, d) for d in datasets]

    async def get(self, actor: Actor, project_id: int, dataset_id: int) -> DatasetOut:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            return await self._out(session, dataset)

    async def versions(self, actor: Actor, project_id: int, dataset_id: int) -> list[VersionOut]:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            rows = await self._versions(session, dataset.id)
            return [await self._version_out(session, v, rows) for v in reversed(rows)]

    async def version(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> VersionOut:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            rows = await self._versions(session, dataset.id)
            return await self._version_out(session, _numbered(rows, number), rows)

    async def blob_of(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> tuple[str, str, str, int]:
        """(blob, format, download name, size) of a version the caller may read."""
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "downloading datasets"
            )
            v = _numbered(await self._versions(session, dataset.id), number)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset.name)
            return v.blob, v.format, f"{safe}-v{v.number}.{v.format}", v.size

    async def diff(
        self, actor: Actor, project_id: int, dataset_id: int, base: int, other: int
    ) -> SchemaDiff:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            rows = await self._versions(session, dataset.id)
            a, b = _numbered(rows, base), _numbered(rows, other)
        before = {c["name"]: c["type"] for c in a.columns}
        after = {c["name"]: c["type"] for c in b.columns}
        return SchemaDiff(
            base=base,
            other=other,
            added=[ColumnOut(name=n, type=t) for n, t in after.items() if n not in before],
            removed=[ColumnOut(name=n, type=t) for n, t in before.items() if n not in after],
            changed=[
                TypeChange(name=n, before=before[n], after=t)
                for n, t in after.items()
                if n in before and before[n] != t
            ],
            row_count_change=b.row_count - a.row_count,
        )

    async def profile(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> dict[str, Any]:
        """The version's quick profile: stored once per content, computed if missing."""
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading datasets"
            )
            v = _numbered(await self._versions(session, dataset.id), number)
        try:
            return await self.ensure_profile(v.blob, v.format)
        except worker.WorkerDied as exc:
            raise ServiceUnavailable(str(exc)) from None
        except Exception as exc:
            log.warning("ai_notebook_ext: profiling version %s: %s", v.id, exc)
            raise Unprocessable(
                f"the profile of version {number} could not be made: {exc}"
            ) from None

    async def ensure_profile(self, blob: str, fmt: str) -> dict[str, Any]:
        async with self.db.session() as session:
            row = await session.get(DatasetProfile, (blob, fmt))
            if row is not None:
                return row.profile
        store = self.store
        profile = await worker.run(worker.profile_blob, store.url, store.options, blob, fmt)
        async with self.db.session() as session:
            if await session.get(DatasetProfile, (blob, fmt)) is None:
                session.add(
                    DatasetProfile(
                        blob=blob,
                        format=fmt,
                        profile=profile,
                        seconds=profile["seconds"],
                        created_at=utcnow(),
                    )
                )
        return profile

    # --- writing ------------------------------------------------------------------------

    async def check_upload(self, actor: Actor, project_id: int) -> None:
        """Refuse an upload before its body arrives (project, role)."""
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "uploading datasets")

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
            await self._profile_quietly(incoming.digest, schema.format)
        return out

    async def _profile_quietly(self, blob: str, fmt: str) -> None:
        """Profile a stored version; a failure is logged (the version stands, and GET
        .../profile reports the failure)."""
        try:
            await self.ensure_profile(blob, fmt)
        except Exception as exc:
            log.warning("ai_notebook_ext: profiling blob %s: %s", blob[:12], exc)

    async def register(
        self, actor: Actor, project_id: int, name: str, path: str, fmt: str | None
    ) -> UploadOut:
        """A file under the server's root dir becomes a version (its bytes are copied)."""
        await self.check_upload(actor, project_id)
        full = await asyncio.to_thread(_below_root, self.root_dir, path, self.allow_hidden)
        # A private copy, hashed while copied: the stored bytes are the hashed bytes even
        # if the file changes meanwhile.
        copy, digest, size = await asyncio.to_thread(copy_and_hash, full, self.staging_dir)
        incoming = Incoming(copy, digest, size, os.path.basename(full), fmt, "register")
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
            rows = await self._versions(session, dataset.id)
            latest = rows[-1] if rows else None
            if (
                latest is not None
                and latest.blob == incoming.digest
                and latest.format == schema.format
                and latest.status == "ready"
            ):
                return UploadOut(
                    dataset=await self._out(session, dataset),
                    version=await self._version_out(session, latest, rows),
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
                source=incoming.source,
                status="ready" if schema.row_count >= 0 else "processing",
                problem="",
                filename=_display_name(incoming.filename),
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
            task = asyncio.ensure_future(
                self._complete(project_id, name, version_id, dataset_id, number, incoming, fmt)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._announce(
                project_id, name, version_id, dataset_id, number, incoming.source, schema.row_count
            )
        async with self.db.session() as session:
            rows = await self._versions(session, dataset_id)
            dataset = await session.get(Dataset, dataset_id)
            assert dataset is not None
            return UploadOut(
                dataset=await self._out(session, dataset),
                version=await self._version_out(session, _numbered(rows, number), rows),
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
    ) -> None:
        """The rest of a background upload: the full read (row count), profile, checks;
        the version is 'ready' once all are done."""
        try:
            store = self.store
            schema = await worker.run(
                worker.read_blob, store.url, store.options, incoming.digest, fmt
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
        await self._set_status(version_id, "processing", schema.row_count, "")
        await self._profile_quietly(incoming.digest, fmt)
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
        self, version_id: int, status: str, row_count: int | None, problem: str
    ) -> None:
        async with self.db.session() as session:
            version = await session.get(DatasetVersion, version_id)
            if version is not None:
                version.status, version.row_count, version.problem = status, row_count, problem

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
            return await self._out(session, dataset)

    async def delete(self, actor: Actor, project_id: int, dataset_id: int) -> None:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "deleting datasets"
            )
            blobs = {v.blob for v in await self._versions(session, dataset.id)}
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
            version = _numbered(await self._versions(session, dataset.id), number)
            blob = version.blob
            await session.delete(version)
        await self.write_manifest(project_id)
        await self.collect({blob})

    async def write_manifest(self, project_id: int) -> None:
        """The project's name -> versions map next to the blobs, for kernels' ``ain``
        (one writer per project at a time, each from the database as it is then)."""
        async with self.locks.hold(("manifest", project_id)):
            await self._write_manifest(project_id)

    async def _write_manifest(self, project_id: int) -> None:
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(
                        Dataset.name,
                        DatasetVersion.number,
                        DatasetVersion.blob,
                        DatasetVersion.format,
                    )
                    .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
                    .where(Dataset.project_id == project_id)
                    .order_by(Dataset.name, DatasetVersion.number)
                )
            ).all()
        manifest: dict[str, Any] = {}
        for name, number, blob, fmt in rows:
            entry = manifest.setdefault(name, {"latest": number, "versions": {}})
            entry["latest"] = number
            entry["versions"][str(number)] = {"blob": blob, "format": fmt}
        text = json.dumps(manifest, sort_keys=True)
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

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    async def _versions(session: Any, dataset_id: int) -> list[DatasetVersion]:
        query = (
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.number)
        )
        return list(await session.scalars(query))

    async def _out(self, session: Any, dataset: Dataset) -> DatasetOut:
        rows = await self._versions(session, dataset.id)
        latest = await self._version_out(session, rows[-1], rows) if rows else None
        return DatasetOut(
            id=dataset.id,
            project_id=dataset.project_id,
            name=dataset.name,
            description=dataset.description,
            tags=list(dataset.tags or []),
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
            latest=latest,
        )

    @staticmethod
    async def _version_out(
        session: Any, v: DatasetVersion, rows: list[DatasetVersion]
    ) -> VersionOut:
        numbers = {r.id: r.number for r in rows}
        username = (
            await session.scalar(select(User.username).where(User.id == v.created_by))
            if v.created_by is not None
            else None
        )
        result = await session.scalar(
            select(QualityResult)
            .where(QualityResult.version_id == v.id)
            .order_by(QualityResult.id.desc())
            .limit(1)
        )
        quality = (
            QualityOut(passed=result.passed, results=result.results, created_at=result.created_at)
            if result is not None
            else None
        )
        return VersionOut(
            id=v.id,
            number=v.number,
            parent=numbers.get(v.parent_id) if v.parent_id is not None else None,
            blob=v.blob,
            size=v.size,
            format=v.format,  # type: ignore[arg-type]
            row_count=v.row_count,
            columns=[ColumnOut(**c) for c in v.columns],
            source=v.source,  # type: ignore[arg-type]
            status=v.status,  # type: ignore[arg-type]
            problem=v.problem,
            filename=v.filename,
            created_by=username,
            created_at=v.created_at,
            quality=quality,
        )


def blob_lock(blob: str) -> tuple[str, str]:
    """The lock key of storing one blob and of cleaning it up."""
    return ("blob", blob)


def _numbered(rows: list[DatasetVersion], number: int) -> DatasetVersion:
    for row in rows:
        if row.number == number:
            return row
    raise NotFound(f"version {number} not found")


def _below_root(root: str, path: str, allow_hidden: bool) -> str:
    """The real path of a file below ``root``; 400 for anything else (symlinks out too,
    and hidden files and folders unless the server shows them)."""
    full = os.path.realpath(os.path.join(root, path))
    if os.path.isabs(path) or os.path.commonpath([full, root]) != root:
        raise BadRequest(
            "path must be relative to the server's root dir and stay inside it",
            details={"field": "path"},
        )
    hidden = [p for p in os.path.relpath(full, root).split(os.sep) if p.startswith(".")]
    hidden += [p for p in path.replace("\\", "/").split("/") if p.startswith(".") and p != "."]
    if hidden and not allow_hidden:
        raise BadRequest(
            "hidden files and folders cannot be registered (ContentsManager.allow_hidden)",
            details={"field": "path"},
        )
    if not os.path.isfile(full):
        raise BadRequest(f"no file at {path!r} below the root dir", details={"field": "path"})
    return full


def _display_name(filename: str) -> str:
    """The client's file name, kept only as a label: no folders, no control characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:255]
