"""Restoring a backup into an empty database and data folder, verified by hash."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from ..datasets.manifest import manifest_of
from ..datasets.storage import BlobStore
from ..execution.artifacts import ArtifactStore
from ..store import Database
from ..store.database import driver_url, make_sync_engine, upgrade
from .databases import database_tables, pg_restore, sqlite_restore
from .layout import PG_FILE, SQLITE_FILE, BackupError, Manifest, blob_path, hash_file


@dataclass
class Restored:
    projects: int
    blobs: int
    artifacts: int


def verify_backup(folder: Path, manifest: Manifest) -> Path:
    """Check every file of the backup against the manifest; the database file."""
    name = manifest.database.get("file")
    expected = {"sqlite": SQLITE_FILE, "postgresql": PG_FILE}.get(manifest.backend)
    if name != expected:
        raise BackupError(f"broken manifest: database file {name!r} for {manifest.backend}")
    database = folder / name
    files = [(database, manifest.database.get("sha256"), manifest.database.get("size"))]
    for kind in ("blobs", "artifacts"):
        for digest, size in getattr(manifest, kind).items():
            files.append((blob_path(folder, kind, digest), digest, size))
    for path, digest, size in files:
        if not path.is_file():
            raise BackupError(f"the backup is incomplete: {path} is missing")
        got, got_size = hash_file(path)
        if (got, got_size) != (digest, size):
            raise BackupError(f"the backup is damaged: {path} does not match its sha256")
    return database


def check_empty_target(
    database_url: str, data_dir: Path, store: BlobStore, artifacts: ArtifactStore
) -> None:
    """Refuse a target that holds anything: a restore never mixes with existing data."""
    url = driver_url(database_url)
    tables = database_tables(url)
    if tables:
        raise BackupError(
            f"the target database is not empty ({len(tables)} tables, e.g. {sorted(tables)[0]!r}): "
            "restore into an empty database"
        )
    ours = set()
    if url.get_backend_name() == "sqlite" and url.database:
        db = Path(url.database).resolve()
        ours = {db, Path(f"{db}-wal"), Path(f"{db}-shm")}
    if data_dir.exists():
        # empty folders (e.g. made by opening the dataset storage) do not count
        files = (p for p in data_dir.rglob("*") if not p.is_dir())
        others = [p.relative_to(data_dir) for p in files if p.resolve() not in ours]
        if others:
            raise BackupError(
                f"the data folder {data_dir} is not empty (it holds {str(others[0])!r}): "
                "restore into an empty or new data folder"
            )
    blobs = f"{store.root}/blobs"
    if store.fs.exists(blobs) and store.fs.find(blobs):
        raise BackupError(f"the dataset storage {store.url} already holds blobs")
    if artifacts.root.exists() and any(artifacts.root.rglob("*")):
        raise BackupError(f"the artifact folder {artifacts.root} is not empty")


async def restore_backup(
    folder: Path,
    database_url: str,
    data_dir: Path,
    store: BlobStore,
    artifacts: ArtifactStore,
    pg_bin: str = "",
) -> Restored:
    """Check the backup and the target, restore the database (migrated to this
    version's schema) and the files, write the dataset manifests kernels read, and read
    every dataset blob back to check its hash."""
    manifest = await asyncio.to_thread(
        _restore_files, folder, database_url, data_dir, store, artifacts, pg_bin
    )
    db = Database(database_url)
    try:
        projects = await _write_manifests(db, store)
    finally:
        await db.dispose()
    await asyncio.to_thread(_verify_blobs, store, list(manifest.blobs))
    return Restored(projects, len(manifest.blobs), len(manifest.artifacts))


def _restore_files(
    folder: Path,
    database_url: str,
    data_dir: Path,
    store: BlobStore,
    artifacts: ArtifactStore,
    pg_bin: str,
) -> Manifest:
    manifest = Manifest.read(folder)
    url = driver_url(database_url)
    if manifest.backend != url.get_backend_name():
        raise BackupError(
            f"this is a backup of a {manifest.backend} database: give a {manifest.backend} "
            "--database-url to restore it into"
        )
    database = verify_backup(folder, manifest)
    check_empty_target(database_url, data_dir, store, artifacts)
    data_dir.mkdir(parents=True, exist_ok=True)
    if manifest.backend == "sqlite":
        sqlite_restore(database, url)
    else:
        pg_restore(database, url, pg_bin)
    upgrade(url)  # a backup of an older version gets today's schema
    _forget_kernels(database_url)
    for digest in manifest.blobs:
        store.put_file(str(blob_path(folder, "blobs", digest)), digest)
    for digest in manifest.artifacts:
        artifacts.put_file(blob_path(folder, "artifacts", digest), digest)
    return manifest


def _verify_blobs(store: BlobStore, blobs: list[str]) -> None:
    """Read every dataset blob back from storage and check its sha256."""
    for digest in blobs:
        sha = hashlib.sha256()
        with store.open(digest) as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
        if sha.hexdigest() != digest:
            raise BackupError(f"dataset blob {digest} does not match its hash after restore")


def _forget_kernels(database_url: str) -> None:
    """Kernel ids of the backed-up server name no kernel here."""
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE project_kernels SET kernel_id = NULL"))
    finally:
        engine.dispose()


async def _write_manifests(db: Database, store: BlobStore) -> int:
    """The dataset manifests kernels read, for every project; the number of projects."""
    async with db.session() as session:
        projects = [int(r[0]) for r in await session.execute(text("SELECT id FROM projects"))]
        with_datasets = {
            int(r[0])
            for r in await session.execute(text("SELECT DISTINCT project_id FROM datasets"))
        }
    for project_id in sorted(with_datasets):
        store.write_text(store.manifest_key(project_id), await manifest_of(db, project_id))
    return len(projects)
