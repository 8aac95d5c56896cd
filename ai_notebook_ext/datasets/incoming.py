"""Files arriving as dataset versions: what an arriving file is, where a registered file
may come from, and what of a client's file name is kept."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import BadRequest
from .readoptions import ReadOptions


@dataclass(frozen=True)
class Incoming:
    """A complete local file about to become a version."""

    path: str
    digest: str
    size: int
    filename: str = ""
    declared: str | None = None
    source: str = "upload"
    read: ReadOptions = field(default_factory=ReadOptions)  # as the client asked


def below_root(root: str, path: str, allow_hidden: bool) -> str:
    """The real path of a file below ``root``; 400 for anything else (symlinks out too,
    and hidden files and folders unless the server shows them)."""
    full = os.path.realpath(os.path.join(root, path))
    if os.path.isabs(path) or os.path.commonpath([full, root]) != root:
        raise BadRequest(
            "path must be relative to the server's root dir and stay inside it",
            details={"field": "path"},
        )
    hidden = [p for p in os.path.relpath(full, root).split(os.sep) if p.startswith(".")]
    hidden += [p for p in path.replace("\\", "/").split("/") if p.startswith(".") and p != "."]
    if hidden and not allow_hidden:
        raise BadRequest(
            "hidden files and folders cannot be registered (ContentsManager.allow_hidden)",
            details={"field": "path"},
        )
    if not os.path.isfile(full):
        raise BadRequest(f"no file at {path!r} below the root dir", details={"field": "path"})
    return full


def display_name(filename: str) -> str:
    """The client's file name, kept only as a label: no folders, no control characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:255]
