"""Lineage (which block runs read and wrote which versions) and the dataset catalog.

Kernels report what they read and wrote through iopub messages (see
``kernel/datasets.py``); the runner hands them to ``record``. No database credentials
ever reach a kernel.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset, DatasetVersion, Lineage
from ..store.models import Membership, Project, Run
from ..store.types import utcnow
from .lookup import allowed_dataset
from .schemas import CatalogHit, CatalogOut, LineageOut, LineageRun


class LineageService:
    """Lineage rows and the catalog search."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, run_id: int, version_id: int, direction: str) -> None:
        """Note that a run read or wrote a version (once per run, version and direction)."""
        async with self.db.session() as session:
            exists = await session.scalar(
                select(Lineage.id).where(
                    Lineage.run_id == run_id,
                    Lineage.version_id == version_id,
                    Lineage.direction == direction,
                )
            )
            if exists is None:
                session.add(
                    Lineage(
                        run_id=run_id,
                        version_id=version_id,
                        direction=direction,
                        created_at=utcnow(),
                    )
                )

    async def of(self, actor: Actor, project_id: int, dataset_id: int) -> LineageOut:
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading lineage"
            )
            rows = (
                await session.execute(
                    select(Lineage, Run, DatasetVersion)
                    .join(Run, Run.id == Lineage.run_id)
                    .join(DatasetVersion, DatasetVersion.id == Lineage.version_id)
                    .where(DatasetVersion.dataset_id == dataset_id)
                    .order_by(Lineage.id)
                )
            ).all()
            runs = [
                LineageRun(
                    run_id=run.id,
                    block_id=run.block_id,
                    status=run.status,
                    direction=link.direction,  # type: ignore[arg-type]
                    version=version.number,
                    dataset=dataset.name,
                    created_at=link.created_at,
                )
                for link, run, version in rows
            ]
            writers = {r.run_id for r in runs if r.direction == "write"}
            readers = {r.run_id for r in runs if r.direction == "read"}
            upstream = await self._others(session, writers, "read", dataset_id)
            downstream = await self._others(session, readers, "write", dataset_id)
        return LineageOut(
            dataset_id=dataset_id, runs=runs, upstream=upstream, downstream=downstream
        )

    @staticmethod
    async def _others(
        session: Any, run_ids: set[int], direction: str, dataset_id: int
    ) -> list[dict[str, Any]]:
        if not run_ids:
            return []
        rows = (
            await session.execute(
                select(Lineage.run_id, Dataset.id, Dataset.name, DatasetVersion.number)
                .join(DatasetVersion, DatasetVersion.id == Lineage.version_id)
                .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                .where(
                    Lineage.run_id.in_(run_ids),
                    Lineage.direction == direction,
                    Dataset.id != dataset_id,
                )
                .order_by(Lineage.id)
            )
        ).all()
        return [
            {"run_id": run, "dataset_id": did, "dataset": name, "version": number}
            for run, did, name, number in rows
        ]

    async def catalog(self, actor: Actor, text: str, limit: int) -> CatalogOut:
        """Datasets the caller can see whose name, description, tags or columns match."""
        needle = text.lower()
        async with self.db.session() as session:
            projects = select(Project.id, Project.name)
            if not actor.is_admin:
                projects = projects.join(Membership, Membership.project_id == Project.id).where(
                    Membership.user_id == actor.id
                )
            visible = dict((await session.execute(projects)).all())
            if not visible:
                return CatalogOut(items=[])
            datasets = list(
                await session.scalars(
                    select(Dataset)
                    .where(Dataset.project_id.in_(visible))
                    .order_by(Dataset.name, Dataset.id)
                )
            )
            latest = await _latest_versions(session, [d.id for d in datasets])
        hits: list[CatalogHit] = []
        for d in datasets:
            version = latest.get(d.id)
            columns = [c["name"] for c in version.columns] if version is not None else []
            matched = []
            if needle in d.name.lower():
                matched.append("name")
            if needle in (d.description or "").lower():
                matched.append("description")
            if any(needle in t.lower() for t in d.tags or []):
                matched.append("tag")
            if any(needle in c.lower() for c in columns):
                matched.append("column")
            if matched:
                hits.append(
                    CatalogHit(
                        project_id=d.project_id,
                        project=visible[d.project_id],
                        dataset_id=d.id,
                        name=d.name,
                        description=d.description,
                        tags=list(d.tags or []),
                        matched=matched,
                        columns=columns,
                        row_count=version.row_count if version is not None else None,
                    )
                )
        hits.sort(key=lambda h: (h.matched[0] != "name", h.name.lower()))
        return CatalogOut(items=hits[:limit])


async def _latest_versions(session: Any, dataset_ids: list[int]) -> dict[int, DatasetVersion]:
    if not dataset_ids:
        return {}
    rows = await session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id.in_(dataset_ids))
        .order_by(DatasetVersion.dataset_id, DatasetVersion.number)
    )
    latest: dict[int, DatasetVersion] = {}
    for row in rows:
        latest[row.dataset_id] = row
    return latest
