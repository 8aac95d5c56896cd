"""Taking a backup of a running server's database, dataset blobs and artifacts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..datasets.storage import BlobStore
from ..execution.artifacts import ArtifactStore
from ..store.database import driver_url
from .databases import pg_snapshot, sqlite_snapshot
from .layout import (
    PG_FILE,
    SQLITE_FILE,
    BackupError,
    Manifest,
    blob_path,
    copy_hashed,
    empty_folder,
    hash_file,
    remove_partial,
)


def take_backup(
    database_url: str,
    store: BlobStore,
    artifacts: ArtifactStore,
    folder: Path,
    pg_bin: str = "",
) -> Manifest:
    """Snapshot the database, then copy what the snapshot references into ``folder``
    (new or empty). A referenced file that is gone (or whose bytes no longer match its
    hash) is listed in ``manifest.missing`` instead."""
    url = driver_url(database_url)
    if not empty_folder(folder):
        raise BackupError(f"{folder} is not empty: give a new or empty folder")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        backend = url.get_backend_name()
        name = SQLITE_FILE if backend == "sqlite" else PG_FILE
        if backend == "sqlite":
            snapshot = sqlite_snapshot(url, folder / name)
        else:
            snapshot = pg_snapshot(url, folder / name, pg_bin)
        sha, size = hash_file(folder / name)
        manifest = Manifest(
            backend=backend,
            schema_revision=snapshot.revision,
            created_at=datetime.now(UTC).isoformat(),
            database={"file": name, "sha256": sha, "size": size},
        )
        for digest in sorted(snapshot.blobs):
            _copy(manifest, "blobs", digest, lambda d: store.open(d), folder)
        for digest in sorted(snapshot.artifacts):
            _copy(manifest, "artifacts", digest, lambda d: artifacts.path(d).open("rb"), folder)
        manifest.write(folder)
    except BaseException:
        remove_partial(folder, created)
        raise
    return manifest


def _copy(manifest: Manifest, kind: str, digest: str, opener, folder: Path) -> None:  # type: ignore[no-untyped-def]
    target = blob_path(folder, kind, digest)
    try:
        with opener(digest) as source:
            got, size = copy_hashed(source, target)
    except FileNotFoundError:
        manifest.missing.setdefault(kind, []).append(digest)
        return
    if got != digest:  # corrupt in storage: not worth keeping
        target.unlink(missing_ok=True)
        manifest.missing.setdefault(kind, []).append(digest)
        return
    getattr(manifest, kind)[digest] = size
