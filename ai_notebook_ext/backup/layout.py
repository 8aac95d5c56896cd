"""The backup folder: file names, the manifest, hashing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

FORMAT = "ai-notebook-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class BackupError(Exception):
    """The backup cannot be taken or restored; the message says why and what to do."""


@dataclass
class Manifest:
    """What a backup holds; every file with its sha256 and size."""

    backend: str  # sqlite or postgresql
    schema_revision: str
    created_at: str
    database: dict[str, Any]  # {"file", "sha256", "size"}
    blobs: dict[str, int] = field(default_factory=dict)  # sha256 -> size
    artifacts: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # referenced, not found
    format: str = FORMAT
    version: int = VERSION

    def write(self, folder: Path) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True)
        (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BackupError(f"{folder} is not a backup: it has no {MANIFEST}") from None
        except (OSError, ValueError) as exc:
            raise BackupError(f"cannot read {folder / MANIFEST}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(f"{folder / MANIFEST} is not an AI Notebook backup manifest")
        if data.get("version") != VERSION:
            raise BackupError(
                f"backup format version {data.get('version')!r} is not supported "
                f"(this version reads {VERSION})"
            )
        try:
            manifest = cls(**data)
        except TypeError as exc:
            raise BackupError(f"broken manifest: {exc}") from None
        for digest in [*manifest.blobs, *manifest.artifacts]:
            if not HEX64.match(digest):
                raise BackupError(f"broken manifest: {digest!r} is not a sha256 digest")
        return manifest


def blob_path(folder: Path, kind: str, digest: str) -> Path:
    """Where a blob (kind 'blobs') or artifact ('artifacts') lives in the backup."""
    if not HEX64.match(digest):
        raise BackupError(f"not a sha256 digest: {digest!r}")
    return folder / kind / digest[:2] / digest


def hash_file(path: Path) -> tuple[str, int]:
    """The sha256 and size of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def copy_hashed(source: BinaryIO, target: Path) -> tuple[str, int]:
    """Copy a stream to ``target`` (atomically) and return what was copied: sha256, size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def empty_folder(path: Path) -> bool:
    """Whether ``path`` does not exist or holds nothing."""
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def remove_partial(folder: Path, created: bool) -> None:
    """Remove what a failed backup wrote (the folder too if we created it)."""
    if created:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def digests(values: Iterable[Any]) -> set[str]:
    return {str(v) for v in values if isinstance(v, str) and HEX64.match(v)}
