"""Datasets and versions as API models, read in batches (no query per row)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from ..errors import NotFound
from ..store.dataset_models import Dataset, DatasetVersion, QualityResult
from ..store.models import User
from .schemas import ColumnOut, DatasetOut, QualityOut, SchemaDiff, TypeChange, VersionOut


async def versions_of(session: Any, dataset_id: int) -> list[DatasetVersion]:
    """A dataset's versions, oldest first."""
    query = (
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.number)
    )
    return list(await session.scalars(query))


def numbered(rows: list[DatasetVersion], number: int) -> DatasetVersion:
    """The version with ``number`` among a dataset's versions; NotFound otherwise."""
    for row in rows:
        if row.number == number:
            return row
    raise NotFound(f"version {number} not found")


def quality_out(result: QualityResult | None) -> QualityOut | None:
    if result is None:
        return None
    return QualityOut(passed=result.passed, results=result.results, created_at=result.created_at)


async def version_outs(
    session: Any, versions: list[DatasetVersion], numbers: dict[int, int]
) -> list[VersionOut]:
    """``versions`` as API models; ``numbers`` maps version ids to numbers (for parents).
    Uploaders and latest quality results come in one query each."""
    if not versions:
        return []
    user_ids = {v.created_by for v in versions if v.created_by is not None}
    names = (
        dict(
            (
                await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
            ).all()
        )
        if user_ids
        else {}
    )
    latest: dict[int, QualityResult] = {}
    results = await session.scalars(
        select(QualityResult)
        .where(QualityResult.version_id.in_([v.id for v in versions]))
        .order_by(QualityResult.id)
    )
    for result in results:
        latest[result.version_id] = result  # the newest wins
    return [
        VersionOut(
            id=v.id,
            number=v.number,
            parent=numbers.get(v.parent_id) if v.parent_id is not None else None,
            blob=v.blob,
            size=v.size,
            format=v.format,  # type: ignore[arg-type]
            row_count=v.row_count,
            read_options=dict(v.read_options or {}),
            columns=[ColumnOut(**c) for c in v.columns],
            source=v.source,  # type: ignore[arg-type]
            status=v.status,  # type: ignore[arg-type]
            problem=v.problem,
            filename=v.filename,
            created_by=names.get(v.created_by),
            created_at=v.created_at,
            quality=quality_out(latest.get(v.id)),
        )
        for v in versions
    ]


async def version_out(
    session: Any, version: DatasetVersion, rows: list[DatasetVersion]
) -> VersionOut:
    """One version (``rows``: its dataset's versions, for the parent's number)."""
    (out,) = await version_outs(session, [version], {r.id: r.number for r in rows})
    return out


async def dataset_outs(session: Any, datasets: list[Dataset]) -> list[DatasetOut]:
    """Datasets with their latest versions, in three queries whatever their number."""
    if not datasets:
        return []
    rows = await session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id.in_([d.id for d in datasets]))
        .order_by(DatasetVersion.dataset_id, DatasetVersion.number)
    )
    by_dataset: dict[int, list[DatasetVersion]] = defaultdict(list)
    for row in rows:
        by_dataset[row.dataset_id].append(row)
    latest = [versions[-1] for versions in by_dataset.values()]
    numbers = {v.id: v.number for versions in by_dataset.values() for v in versions}
    rendered = await version_outs(session, latest, numbers)
    outs = {row.dataset_id: out for row, out in zip(latest, rendered, strict=True)}
    return [
        DatasetOut(
            id=d.id,
            project_id=d.project_id,
            name=d.name,
            description=d.description,
            tags=list(d.tags or []),
            created_at=d.created_at,
            updated_at=d.updated_at,
            latest=outs.get(d.id),
        )
        for d in datasets
    ]


def schema_diff(a: DatasetVersion, b: DatasetVersion) -> SchemaDiff:
    """Columns added, removed and retyped from version ``a`` to ``b``."""
    before = {c["name"]: c["type"] for c in a.columns}
    after = {c["name"]: c["type"] for c in b.columns}
    counted = a.row_count is not None and b.row_count is not None
    return SchemaDiff(
        base=a.number,
        other=b.number,
        added=[ColumnOut(name=n, type=t) for n, t in after.items() if n not in before],
        removed=[ColumnOut(name=n, type=t) for n, t in before.items() if n not in after],
        changed=[
            TypeChange(name=n, before=before[n], after=t)
            for n, t in after.items()
            if n in before and before[n] != t
        ],
        row_count_change=(b.row_count - a.row_count) if counted else None,  # type: ignore[operator]
    )
