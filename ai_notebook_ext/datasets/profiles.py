"""Quick profiles, stored once per content (blob and format) and reused by every version
that has it; computed in the data worker."""

from __future__ import annotations

import logging
from typing import Any

from ..store import Database
from ..store.dataset_models import DatasetProfile
from ..store.types import utcnow
from . import worker
from .storage import BlobStore

log = logging.getLogger(__name__)


async def ensure_profile(db: Database, store: BlobStore, blob: str, fmt: str) -> dict[str, Any]:
    """The stored profile of a content, computed first if there is none."""
    async with db.session() as session:
        row = await session.get(DatasetProfile, (blob, fmt))
        if row is not None:
            return row.profile
    profile = await worker.run(worker.profile_blob, store.url, store.options, blob, fmt)
    async with db.session() as session:
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


async def profile_quietly(db: Database, store: BlobStore, blob: str, fmt: str) -> None:
    """Profile a stored version; a failure is logged (the version stands, and GET
    .../profile reports the failure)."""
    try:
        await ensure_profile(db, store, blob, fmt)
    except Exception as exc:
        log.warning("ai_notebook_ext: profiling blob %s: %s", blob[:12], exc)
