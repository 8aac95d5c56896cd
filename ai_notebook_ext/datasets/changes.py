"""Editors' changes to existing datasets: description and tags, deleting a dataset or one
version.

A deletion rewrites the project's manifest (kernels stop seeing the versions) and then
removes the blobs no version uses any more.
"""

from __future__ import annotations

from sqlalchemy import delete

from ..projects.locks import KeyedLocks
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import DatasetVersion
from ..store.types import utcnow
from .blobs import collect
from .lookup import allowed_dataset
from .manifest import write_manifest
from .schemas import DatasetOut, DatasetUpdate
from .storage import BlobStore
from .views import dataset_outs, numbered, versions_of


class DatasetChanges:
    """Updates and deletions of a project's datasets."""

    def __init__(self, db: Database, store: BlobStore, locks: KeyedLocks) -> None:
        self.db = db
        self.store = store
        self.locks = locks

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
        await write_manifest(self.db, self.store, self.locks, project_id)
        await collect(self.db, self.store, self.locks, blobs)

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
        await write_manifest(self.db, self.store, self.locks, project_id)
        await collect(self.db, self.store, self.locks, {blob})
