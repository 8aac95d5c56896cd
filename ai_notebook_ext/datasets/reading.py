"""Reading datasets and their versions for viewers: lists, one dataset or version, the
blob to download, schema diffs, quick profiles and sample rows.

Nothing here changes a dataset; every call checks the caller may view the project first.
Reads of file contents run in the data worker so the server keeps answering.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from ..errors import ServiceUnavailable, Unprocessable
from ..projects.access import authorize
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset
from . import worker
from .lookup import allowed_dataset
from .profiles import ensure_profile
from .readoptions import ReadOptions
from .schemas import DatasetOut, SchemaDiff, VersionOut
from .storage import BlobStore
from .views import dataset_outs, numbered, schema_diff, version_out, version_outs, versions_of

log = logging.getLogger(__name__)


class DatasetReader:
    """What viewers of a project may read of its datasets."""

    def __init__(self, db: Database, store: BlobStore) -> None:
        self.db = db
        self.store = store

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
