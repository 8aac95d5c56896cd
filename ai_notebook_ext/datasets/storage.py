"""Content-addressed blob storage through fsspec: ``<root>/blobs/<aa>/<sha256>``.

The root is a local folder by default or any fsspec URL (``s3://bucket/prefix`` with the
s3fs extra). A blob's name is the sha256 of its bytes, so identical content is stored
once, and a blob is written only after it is complete (local: rename into place; object
stores: a single PUT), so readers never see half a blob.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from .directfile import DirectFile

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class BlobStore:
    """Blobs by sha256 in one fsspec filesystem."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        import fsspec

        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **(options or {}))
        self.root = self.root.rstrip("/")
        self.local = "file" in _protocols(self.fs)
        if self.local:
            os.makedirs(self.root, exist_ok=True)
        self.options = dict(options or {})

    def key(self, digest: str) -> str:
        if not HEX64.match(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return f"{self.root}/blobs/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.key(digest)))

    def put_file(self, path: str, digest: str, *, move: bool = False) -> None:
        """Store a complete local file under its digest (nothing to do if already there).
        ``move``: the file is ours to take (a staged upload): on the same local disk it is
        renamed into place instead of copied."""
        target = self.key(digest)
        if self.fs.exists(target):
            return
        if self.local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if move:
                with contextlib.suppress(OSError):  # another disk: copy below
                    os.replace(path, target)
                    return
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".incoming-")
            os.close(fd)
            try:
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        else:
            self.fs.put_file(path, target)

    def open(self, digest: str) -> BinaryIO:
        return self.fs.open(self.key(digest), "rb")  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def local_path(self, digest: str, suffix: str = "") -> Iterator[str]:
        """A local file with the blob's bytes (the blob itself when storage is local)."""
        if self.local:
            yield self.key(digest)
            return
        fd, tmp = tempfile.mkstemp(prefix="ain-blob-", suffix=suffix)
        os.close(fd)
        try:
            self.fs.get_file(self.key(digest), tmp)
            yield tmp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.key(digest))

    def size(self, digest: str) -> int:
        return int(self.fs.size(self.key(digest)))

    def manifest_key(self, project_id: int) -> str:
        """Where a project's name -> versions map lives (read by kernels)."""
        return f"{self.root}/manifests/project-{int(project_id)}.json"

    def write_text(self, key: str, text: str) -> None:
        """Replace a small text file whole (readers see the old or the new one)."""
        data = text.encode()
        if self.local:
            folder = os.path.dirname(key)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, key)
        else:
            self.fs.pipe_file(key, data)

    def read_text(self, key: str) -> str:
        with self.fs.open(key, "rb") as f:
            return f.read().decode()


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


class Staging:
    """A local file that takes a stream while hashing it; removed unless kept.

    Chunks gather in memory up to BATCH bytes; one thread writes a batch while another
    hashes it and the event loop receives the next (hashlib and file writes release the
    GIL), and ``write`` waits when both are busy, so memory stays under two batches and a
    slow disk slows the sender down instead of filling the server's memory. The file is
    written past the page cache where possible (``DirectFile``, ``direct``).
    """

    BATCH = 8 << 20

    def __init__(self, folder: str, *, direct: bool = True) -> None:
        os.makedirs(folder, exist_ok=True)
        fd, self.path = tempfile.mkstemp(dir=folder, prefix="upload-")
        self._file = DirectFile(fd, direct=direct)
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._flush: asyncio.Future[Any] | None = None
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self.size += len(chunk)
        if self._pending_size >= self.BATCH:
            await self._drain()

    async def _drain(self) -> None:
        if self._flush is not None:
            await self._flush
        batch, self._pending, self._pending_size = self._pending, [], 0
        self._flush = asyncio.gather(  # writing and hashing overlap on two threads
            asyncio.to_thread(self._write_batch, batch), asyncio.to_thread(self._hash_batch, batch)
        )
        self._flush.add_done_callback(_retrieve)

    def _write_batch(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self._file.write(chunk)

    def _hash_batch(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self._hash.update(chunk)

    async def finish(self) -> str:
        """Write what is left; the sha256 of everything written."""
        await self._drain()
        if self._flush is not None:
            await self._flush
        await asyncio.to_thread(self._file.close)  # the buffered tail: up to 8 MiB
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove the file (an aborted or failed upload leaves nothing behind)."""
        self._pending = []
        with contextlib.suppress(OSError):
            self._file.close(keep=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A batch written after a discard fails on the closed file: expected, not logged."""
    if not future.cancelled():
        future.exception()


def copy_and_hash(src: str, folder: str) -> tuple[str, str, int]:
    """A private copy of ``src`` in ``folder`` with the sha256 and size of what was copied."""
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="register-")
    digest = hashlib.sha256()
    size = 0
    target = DirectFile(fd)
    try:
        with open(src, "rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                target.write(chunk)
                size += len(chunk)
        target.close()
    except BaseException:
        with contextlib.suppress(OSError):
            target.close(keep=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return path, digest.hexdigest(), size


def file_digest(path: str) -> tuple[str, int]:
    """sha256 and size of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
