"""Garbage collection of dataset blobs: a blob no version references any more goes, with
its stored profiles.

A blob's lock (``blob_lock``) is held from storing the blob to recording the version that
uses it (ingest, kernel writes, bundle imports), and by the cleanup of that blob, so a blob
about to be used is never removed.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select

from ..projects.locks import KeyedLocks
from ..store import Database
from ..store.dataset_models import DatasetProfile, DatasetVersion
from .storage import BlobStore


def blob_lock(blob: str) -> tuple[str, str]:
    """The lock key of storing one blob and of cleaning it up."""
    return ("blob", blob)


async def collect(db: Database, store: BlobStore, locks: KeyedLocks, blobs: set[str]) -> None:
    """Remove blobs (and their profiles) no version references any more. Each blob is
    checked and removed under its own lock, which ingest holds from storing a blob to
    recording the version that uses it."""
    for blob in sorted(blobs):
        async with locks.hold(blob_lock(blob)):
            async with db.session() as session:
                used = await session.scalar(
                    select(DatasetVersion.id).where(DatasetVersion.blob == blob).limit(1)
                )
                if used is not None:
                    continue
                await session.execute(delete(DatasetProfile).where(DatasetProfile.blob == blob))
            await asyncio.to_thread(store.delete, blob)
