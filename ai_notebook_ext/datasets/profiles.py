"""Quick profiles, stored once per content (blob, format and reading options) and reused
by every version that has it; computed in the data worker."""

from __future__ import annotations

import logging
from typing import Any

from .. import metrics
from ..store import Database
from ..store.dataset_models import DatasetProfile
from ..store.types import utcnow
from . import worker
from .readoptions import ReadOptions
from .storage import BlobStore

log = logging.getLogger(__name__)


async def ensure_profile(
    db: Database,
    store: BlobStore,
    blob: str,
    fmt: str,
    read: ReadOptions | None = None,
    lane: Any = None,
) -> dict[str, Any]:
    """The stored profile of a content read with ``read``, computed first if there is
    none (in the worker of ``lane``, the project)."""
    read = read or ReadOptions()
    key = read.key(fmt)
    async with db.session() as session:
        row = await session.get(DatasetProfile, (blob, key))
        if row is not None:
            return row.profile
    try:
        profile = await worker.run(
            worker.profile_blob, store.url, store.options, blob, fmt, read, lane=lane
        )
    except Exception:
        metrics.PROFILE_JOBS.labels("failed").inc()
        raise
    metrics.PROFILE_JOBS.labels("done").inc()
    async with db.session() as session:
        if await session.get(DatasetProfile, (blob, key)) is None:
            session.add(
                DatasetProfile(
                    blob=blob,
                    format=key,
                    profile=profile,
                    seconds=profile["seconds"],
                    created_at=utcnow(),
                )
            )
    return profile


async def profile_quietly(
    db: Database,
    store: BlobStore,
    blob: str,
    fmt: str,
    read: ReadOptions | None = None,
    lane: Any = None,
) -> None:
    """Profile a stored version; a failure is logged (the version stands, and GET
    .../profile reports the failure)."""
    try:
        await ensure_profile(db, store, blob, fmt, read, lane)
    except Exception as exc:
        log.warning("ai_notebook_ext: profiling blob %s: %s", blob[:12], exc)
