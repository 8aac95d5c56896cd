"""The manifest kernels resolve dataset names with: name -> latest and versions' blobs.

Kept next to the blobs, so a kernel's ``ain`` reads it from the storage directly; it is
rewritten after every change to a project's datasets.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from ..projects.locks import KeyedLocks
from ..store import Database
from ..store.dataset_models import Dataset, DatasetVersion
from .storage import BlobStore


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


async def write_manifest(
    db: Database, store: BlobStore, locks: KeyedLocks, project_id: int
) -> None:
    """The project's name -> versions map next to the blobs, for kernels' ``ain``
    (one writer per project at a time, each from the database as it is then)."""
    async with locks.hold(("manifest", project_id)):
        text = await manifest_of(db, project_id)
        key = store.manifest_key(project_id)
        await asyncio.to_thread(store.write_text, key, text)
