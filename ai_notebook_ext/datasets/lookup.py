"""Finding a project's dataset or version for a caller (one place for the role check and
the "not in this project" answer)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..errors import NotFound
from ..projects.access import authorize
from ..projects.users import Actor
from ..store.dataset_models import Dataset, DatasetVersion


async def dataset_in(session: Any, project_id: int, dataset_id: int) -> Dataset:
    """The dataset if it belongs to the project; NotFound otherwise."""
    dataset = await session.get(Dataset, dataset_id)
    if dataset is None or dataset.project_id != project_id:
        raise NotFound(f"dataset {dataset_id} not found in project {project_id}")
    return dataset


async def allowed_dataset(
    session: Any, actor: Actor, project_id: int, dataset_id: int, role: str, action: str
) -> Dataset:
    """The dataset, after checking the caller holds ``role`` in its project."""
    await authorize(session, actor, project_id, role, action)
    return await dataset_in(session, project_id, dataset_id)


async def version_of(session: Any, dataset_id: int, number: int) -> DatasetVersion:
    """A dataset's version by number; NotFound otherwise."""
    version = await session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == number
        )
    )
    if version is None:
        raise NotFound(f"version {number} not found")
    return version
