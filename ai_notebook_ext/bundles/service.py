"""BundleService: export a project as one zip (viewers), import a zip as a new project
owned by the caller (anyone).

An import changes nothing until the whole bundle passed its checks; then its dataset
blobs go into the blob store under the blobs' locks (as an upload's do) and every row is
inserted in one transaction. If that fails, the new blobs no version uses are collected
and the artifacts it created are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from pydantic import ValidationError

from ..datasets.blobs import blob_lock
from ..datasets.quality import Rule
from ..datasets.rules import _validate as validate_rule
from ..datasets.service import DatasetService
from ..errors import BadRequest
from ..execution.artifacts import ArtifactStore
from ..notebooks.service import safe_filename
from ..projects.access import authorize
from ..projects.schemas import ProjectCreate, ProjectOut
from ..projects.users import Actor
from ..store import Database
from .export import read_project, write_bundle
from .load import insert_project
from .schema import ProjectDoc
from .unpack import Unpacked, unpack
from .zipsafe import MAX_ENTRIES, BundleError, Limits

log = logging.getLogger(__name__)
SUFFIX = ".ainb.zip"


class BundleService:
    """Project bundles out of and into this server."""

    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        artifacts: ArtifactStore,
        staging_dir: str,
        max_bytes: int,
        generator: str,
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.store = datasets.store
        self.artifacts = artifacts
        self.staging_dir = staging_dir
        self.max_bytes = max_bytes
        self.max_entries = MAX_ENTRIES
        self.generator = generator

    async def export(self, actor: Actor, project_id: int) -> tuple[str, Path]:
        """(download name, a temporary zip file the caller streams and removes)."""
        async with self.db.session() as session:
            project, _ = await authorize(session, actor, project_id, "viewer", "exporting")
            snap = await read_project(session, project)
            name = project.name
        os.makedirs(self.staging_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.staging_dir, prefix="bundle-", suffix=".zip")
        os.close(fd)
        try:
            await asyncio.to_thread(
                write_bundle, Path(tmp), snap, self.store, self.artifacts, self.generator
            )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return safe_filename(name, SUFFIX), Path(tmp)

    async def import_bundle(self, actor: Actor, path: Path, name: str | None) -> ProjectOut:
        """A new project from the bundle file at ``path`` (400 naming the first fault)."""
        os.makedirs(self.staging_dir, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=self.staging_dir, prefix="bundle-"))
        try:
            try:
                bundle = await asyncio.to_thread(
                    unpack, path, work, Limits(self.max_bytes, self.max_entries)
                )
            except BundleError as exc:
                raise BadRequest(
                    f"the bundle is refused: {exc}", details={"field": "body"}
                ) from None
            data = _project_data(bundle.doc, name)
            await _check_rules(bundle.doc)
            return await self._store(actor, bundle, data)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _store(self, actor: Actor, bundle: Unpacked, data: ProjectCreate) -> ProjectOut:
        blobs = sorted(bundle.blobs)
        created: list[str] = []
        try:
            async with contextlib.AsyncExitStack() as held:
                for sha in blobs:  # no cleanup of these blobs until their versions exist
                    await held.enter_async_context(self.datasets.locks.hold(blob_lock(sha)))
                created = await asyncio.to_thread(self._put_files, bundle)
                async with self.db.session() as session:
                    project = await insert_project(session, actor, bundle.doc, data)
        except BaseException:
            await asyncio.to_thread(self._remove_artifacts, created)
            await self.datasets.collect(set(blobs))
            raise
        await self.datasets.write_manifest(project.id)
        return project

    def _put_files(self, bundle: Unpacked) -> list[str]:
        """Blobs into the blob store, artifacts into theirs; the artifacts that are new."""
        for sha, path in bundle.blobs.items():
            self.store.put_file(str(path), sha, move=True)
        return [sha for sha, path in bundle.artifacts.items() if self.artifacts.put_file(path, sha)]

    def _remove_artifacts(self, created: list[str]) -> None:
        for sha in created:
            self.artifacts.path(sha).unlink(missing_ok=True)


def _project_data(doc: ProjectDoc, name: str | None) -> ProjectCreate:
    try:
        return ProjectCreate(name=name or doc.project.name, description=doc.project.description)
    except ValidationError as exc:
        raise BadRequest(f"name: {exc.errors()[0]['msg']}", details={"field": "name"}) from None


async def _check_rules(doc: ProjectDoc) -> None:
    """Quality rules pass the same check as rules added through the API (their SQL is
    parsed and locked down in a data worker)."""
    for dataset in doc.datasets:
        for rule in dataset.rules:
            try:
                await validate_rule(Rule(rule.kind, rule.column, dict(rule.params)), None)
            except BadRequest as exc:
                raise BadRequest(
                    f"the bundle is refused: dataset {dataset.name!r}, quality rule "
                    f"{rule.id}: {exc.message}",
                    details={"field": "body"},
                ) from None
