"""The manifest kernels resolve dataset names with: name -> latest and versions' blobs."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ..store import Database
from ..store.dataset_models import Dataset, DatasetVersion


async def manifest_of(db: Database, project_id: int) -> str:
    """The project's manifest as JSON text (read by ``kernel/datasets.py``)."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(
                    Dataset.name,
                    DatasetVersion.number,
                    DatasetVersion.blob,
                    DatasetVersion.format,
                    DatasetVersion.read_options,
                )
                .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
                .where(Dataset.project_id == project_id)
                .order_by(Dataset.name, DatasetVersion.number)
            )
        ).all()
    manifest: dict[str, Any] = {}
    for name, number, blob, fmt, read in rows:
        entry = manifest.setdefault(name, {"latest": number, "versions": {}})
        entry["latest"] = number
        entry["versions"][str(number)] = {"blob": blob, "format": fmt}
        if read:
            entry["versions"][str(number)]["read_options"] = read
    return json.dumps(manifest, sort_keys=True)
