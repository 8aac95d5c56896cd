"""An uploaded bundle checked whole before anything is stored: the zip's entries, the
manifest, the project's JSON against the schema, every reference, and every file's
bytes against its sha256 (extracted to a private work folder, names never used)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .references import check
from .schema import (
    ARTIFACTS,
    BLOBS,
    FORMAT,
    JSON_MAX,
    MANIFEST,
    MANIFEST_MAX,
    PROJECT,
    VERSION,
    Manifest,
    ProjectDoc,
)
from .zipsafe import BundleError, Limits, Reader, open_zip

M = TypeVar("M", bound=BaseModel)


@dataclass
class Unpacked:
    """A bundle that passed every check, its files in a work folder."""

    manifest: Manifest
    doc: ProjectDoc
    blobs: dict[str, Path] = field(default_factory=dict)  # sha256 -> extracted file
    artifacts: dict[str, Path] = field(default_factory=dict)


def _validated(model: type[M], raw: bytes, entry: str) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "the document"
        raise BundleError(f"{entry}: {where}: {err['msg']}") from None


def _manifest(raw: bytes) -> Manifest:
    """The manifest, with the format and version told apart from other faults."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise BundleError(f"{MANIFEST} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"this is not an AI Notebook project bundle ({MANIFEST} format)")
    if data.get("version") != VERSION:
        raise BundleError(
            f"bundle format version {data.get('version')!r} is not supported "
            f"(this server reads version {VERSION})"
        )
    return _validated(Manifest, raw, MANIFEST)


def unpack(path: Path, work: Path, limits: Limits) -> Unpacked:
    """Check the bundle at ``path``; its files go to ``work`` (runs in a thread)."""
    with open_zip(path, limits) as archive:
        reader = Reader(archive, limits)
        manifest = _manifest(reader.read(MANIFEST, MANIFEST_MAX))
        doc = _validated(ProjectDoc, reader.read(PROJECT, JSON_MAX), PROJECT)
        check(doc, manifest, reader.names())
        out = Unpacked(manifest, doc)
        for kind, listed, files in (
            (BLOBS, manifest.blobs, out.blobs),
            (ARTIFACTS, manifest.artifacts, out.artifacts),
        ):
            for sha, size in sorted(listed.items()):
                target = work / kind / sha
                if reader.extract(kind + sha, size, target) != sha:
                    raise BundleError(f"entry {kind + sha!r} does not match its sha256")
                files[sha] = target
    return out
