"""Reading an untrusted zip: every entry checked before any is read, every read bounded.

Header sizes are never trusted: bytes are counted as they come out of the decompressor,
and a read stops as soon as an entry passes its allowance, the bundle's total, or a
compression ratio no real file of ours has (a zip bomb).
"""

from __future__ import annotations

import contextlib
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..backup.layout import copy_hashed
from .schema import ARTIFACTS, BLOBS, MANIFEST, PROJECT

MAX_ENTRIES = 100_000
DIRECTORY_ENTRY_MAX = 256  # bytes of a central directory entry with a name of ours
MAX_RATIO = 200  # uncompressed / compressed bytes of one entry, past SLACK
SLACK = 1 << 20  # an entry may always inflate to 1 MiB
CHUNK = 1 << 20
DIGEST_ENTRY = re.compile(r"^(blobs|artifacts)/[0-9a-f]{64}$")
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


class BundleError(Exception):
    """The bundle is corrupt or refused; the message says why."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # uncompressed bytes of all entries together
    max_entries: int = MAX_ENTRIES
    max_ratio: int = MAX_RATIO


def check_name(name: str) -> None:
    """Entry names are fixed by the format; anything path-like is refused by name."""
    if "\\" in name:
        raise BundleError(f"entry {name!r}: backslashes are not allowed in names")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"entry {name!r}: absolute paths are not allowed")
    if ".." in name.split("/"):
        raise BundleError(f"entry {name!r}: '..' is not allowed in names")
    if name not in (MANIFEST, PROJECT) and not DIGEST_ENTRY.match(name):
        raise BundleError(
            f"entry {name!r} is not part of the bundle format (expected {MANIFEST}, "
            f"{PROJECT}, {BLOBS}<sha256>, {ARTIFACTS}<sha256>)"
        )


def check_directory(path: Path, limits: Limits) -> None:
    """Refuse a central directory too large for ``max_entries`` before zipfile reads it
    into memory (it reads the directory whole and parses every entry it holds)."""
    try:
        with path.open("rb") as f:
            end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # the stdlib's own
    except OSError as exc:
        raise BundleError(f"the body is not a zip file: {exc}") from None
    if not end:
        raise BundleError("the body is not a zip file")
    entries = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]
    size = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if entries > limits.max_entries or size > limits.max_entries * DIRECTORY_ENTRY_MAX:
        raise BundleError(f"the bundle has more than {limits.max_entries} entries")


def open_zip(path: Path, limits: Limits) -> zipfile.ZipFile:
    """The zip at ``path`` with its entries checked (names, kinds, count, sizes)."""
    check_directory(path, limits)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BundleError(f"the body is not a zip file: {exc}") from None
    try:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise BundleError(f"the bundle has more than {limits.max_entries} entries")
        seen: set[str] = set()
        declared = 0
        for info in infos:
            check_name(info.filename)
            if info.filename in seen:
                raise BundleError(f"entry {info.filename!r} appears twice")
            seen.add(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode) or info.is_dir():
                raise BundleError(f"entry {info.filename!r} is a link or folder, not a file")
            if info.flag_bits & 0x1:
                raise BundleError(f"entry {info.filename!r} is encrypted")
            if info.compress_type not in METHODS:
                raise BundleError(
                    f"entry {info.filename!r} uses compression method {info.compress_type}; "
                    "bundles use stored or deflated entries"
                )
            declared += info.file_size
        if declared > limits.max_bytes:
            raise BundleError(
                f"the bundle unpacks to {declared} bytes; the limit is {limits.max_bytes} "
                "(AINotebookApp.bundle_max_bytes)"
            )
    except BaseException:
        archive.close()
        raise
    return archive


class Bounded:
    """A file-like reader of one entry that refuses to give more than ``allowance``
    bytes, or more than the ratio allows for the entry's compressed size."""

    def __init__(self, source: IO[bytes], info: zipfile.ZipInfo, allowance: int, ratio: int):
        self.source = source
        self.name = info.filename
        self.allowance = allowance
        self.ratio_cap = max(SLACK, ratio * info.compress_size)
        self.ratio = ratio
        self.count = 0

    def read(self, size: int = CHUNK) -> bytes:
        chunk = self.source.read(min(size if size > 0 else CHUNK, CHUNK))
        self.count += len(chunk)
        if self.count > self.allowance:
            raise BundleError(f"entry {self.name!r} is larger than the bundle says or allows")
        if self.count > self.ratio_cap:
            raise BundleError(
                f"entry {self.name!r} inflates more than {self.ratio}x: refused as a zip bomb"
            )
        return chunk


class Reader:
    """Bounded reads of a checked zip; the total of all reads is capped too."""

    def __init__(self, archive: zipfile.ZipFile, limits: Limits) -> None:
        self.archive = archive
        self.limits = limits
        self.total = 0

    def names(self) -> set[str]:
        return set(self.archive.namelist())

    @contextlib.contextmanager
    def _entry(self, name: str, allowance: int) -> Iterator[Bounded]:
        info = self.archive.getinfo(name)
        left = self.limits.max_bytes - self.total
        with self.archive.open(info) as source:
            reader = Bounded(source, info, min(allowance, left), self.limits.max_ratio)
            try:
                yield reader
            finally:
                self.total += reader.count

    def read(self, name: str, allowance: int) -> bytes:
        """A small entry (JSON) whole, at most ``allowance`` bytes."""
        parts = []
        try:
            with self._entry(name, allowance) as reader:
                while chunk := reader.read():
                    parts.append(chunk)
        except KeyError:
            raise BundleError(f"the bundle has no {name}") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise BundleError(f"entry {name!r} is damaged: {exc}") from None
        return b"".join(parts)

    def extract(self, name: str, size: int, target: Path) -> str:
        """Copy an entry of exactly ``size`` bytes to ``target``; its sha256."""
        try:
            with self._entry(name, size) as reader:
                digest, got = copy_hashed(reader, target)  # type: ignore[arg-type]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise BundleError(f"entry {name!r} is damaged: {exc}") from None
        if got != size:
            raise BundleError(f"entry {name!r} has {got} bytes; the manifest says {size}")
        return digest
