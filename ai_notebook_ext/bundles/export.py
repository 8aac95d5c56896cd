"""A project as a bundle: its rows read in one transaction, then a zip written to a
temporary file (files copied in 1 MiB pieces, hashed on the way), which the handler
streams out."""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..datasets.storage import BlobStore
from ..errors import Unprocessable
from ..execution.artifacts import ArtifactStore
from ..store.dataset_models import Dataset, DatasetVersion, Lineage, QualityResult, QualityRule
from ..store.models import Artifact, Block, Edge, Project, Run
from .schema import (
    ARTIFACTS,
    BLOBS,
    FORMAT,
    JSON_MAX,
    MANIFEST,
    PROJECT,
    VERSION,
    ArtifactDoc,
    BlockDoc,
    BlockResultDoc,
    DatasetDoc,
    EdgeDoc,
    LineageDoc,
    Manifest,
    ProjectDoc,
    ProjectInfo,
    QualityDoc,
    RuleDoc,
    RunDoc,
    VersionDoc,
)

CHUNK = 1 << 20
PROBE_SMALL = 64 * 1024  # below this, a file is always deflated
STORE_ABOVE_RATIO = 50  # deflating better than this: stored, so imports never see a bomb


@dataclass
class Snapshot:
    """A project's rows as the bundle carries them, and the files they need."""

    doc: ProjectDoc
    blobs: set[str] = field(default_factory=set)
    artifacts: dict[str, str] = field(default_factory=dict)  # sha256 -> mime
    created: dict[str, datetime] = field(default_factory=dict)  # artifact rows' times


async def _all(session: AsyncSession, query: Any) -> list[Any]:
    return list(await session.scalars(query))


async def read_project(session: AsyncSession, project: Project) -> Snapshot:
    """Every row of the project a bundle carries (the caller checked the role); a row
    the bundle's schema cannot carry is a 422 naming it."""
    try:
        return await _read_project(session, project)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise Unprocessable(
            f"the project cannot be bundled: {exc.title} {where}: {err['msg']}"
        ) from None


async def _read_project(session: AsyncSession, project: Project) -> Snapshot:
    pid = project.id
    blocks = list(
        await session.scalars(
            select(Block).where(Block.project_id == pid).order_by(Block.position, Block.id)
        )
    )
    block_ids = {b.id for b in blocks}
    edges = list(await session.scalars(select(Edge).where(Edge.project_id == pid)))
    runs = list(await session.scalars(select(Run).where(Run.project_id == pid).order_by(Run.id)))
    run_ids = {r.id for r in runs}
    arts = {
        a.sha256: a
        for a in await session.scalars(select(Artifact).where(Artifact.project_id == pid))
    }
    datasets = await _all(
        session, select(Dataset).where(Dataset.project_id == pid).order_by(Dataset.id)
    )
    own = select(Dataset.id).where(Dataset.project_id == pid).scalar_subquery()
    of_versions = select(DatasetVersion.id).where(DatasetVersion.dataset_id.in_(own))
    versions = await _all(
        session,
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id.in_(own))
        .order_by(DatasetVersion.number),
    )
    rules = await _all(
        session,
        select(QualityRule).where(QualityRule.dataset_id.in_(own)).order_by(QualityRule.id),
    )
    results = await _all(
        session,
        select(QualityResult)
        .where(QualityResult.version_id.in_(of_versions))
        .order_by(QualityResult.id),
    )
    lineage = await _all(
        session,
        select(Lineage)
        .join(Run, Run.id == Lineage.run_id)
        .where(Run.project_id == pid, Lineage.version_id.in_(of_versions))
        .order_by(Lineage.id),
    )
    mimes = {sha: a.mime for sha, a in arts.items()}
    run_docs = [_run_doc(r, block_ids, run_ids, mimes) for r in runs]
    doc = ProjectDoc(
        project=ProjectInfo(name=project.name, description=project.description),
        blocks=[
            BlockDoc(
                id=b.id,
                position=b.position,
                kind=b.kind,  # type: ignore[arg-type]
                source=b.source,
                version=b.version,
                timeout_seconds=b.timeout_seconds,
                last_run_id=b.last_run_id if b.last_run_id in run_ids else None,
                created_at=b.created_at,
                updated_at=b.updated_at,
            )
            for b in blocks
        ],
        edges=[
            EdgeDoc(source_id=e.source_id, target_id=e.target_id, created_at=e.created_at)
            for e in edges
        ],
        runs=run_docs,
        artifacts=[],
        datasets=[_dataset_doc(d, versions, rules, results) for d in datasets],
        lineage=[
            LineageDoc(
                run_id=x.run_id,
                version_id=x.version_id,
                direction=x.direction,  # type: ignore[arg-type]
                created_at=x.created_at,
            )
            for x in lineage
        ],
    )
    created = {sha: a.created_at for sha, a in arts.items()}
    return Snapshot(doc, {v.blob for v in versions}, mimes, created)


def _run_doc(run: Run, blocks: set[int], runs: set[int], mimes: dict[str, str]) -> RunDoc:
    """A run as the bundle carries it: a pipeline's plan, results and options keep only
    blocks that still exist (a deleted block leaves its id behind in them)."""
    for output in run.outputs or []:
        for mime, ref in (output.get("artifacts") or {}).items():
            if isinstance(ref, dict) and isinstance(ref.get("id"), str):
                mimes.setdefault(ref["id"], mime)
    options = dict(run.options) if run.options is not None else None
    if options is not None:
        if options.get("block_id") not in blocks:
            options["block_id"] = None
        if isinstance(options.get("block_ids"), list):
            options["block_ids"] = [b for b in options["block_ids"] if b in blocks] or None
    results = None
    if run.results is not None:
        fields = BlockResultDoc.model_fields
        results = [
            {k: v for k, v in r.items() if k in fields}
            | {"run_id": r.get("run_id") if r.get("run_id") in runs else None}
            for r in run.results
            if r.get("block_id") in blocks
        ]
    return RunDoc.model_validate(
        {
            "id": run.id,
            "kind": run.kind,
            "block_id": run.block_id if run.block_id in blocks else None,
            "parent_id": run.parent_id if run.parent_id in runs else None,
            "status": run.status,
            "source": run.source,
            "block_version": run.block_version,
            "timeout_seconds": run.timeout_seconds,
            "execution_count": run.execution_count,
            "outputs": run.outputs or [],
            "error": run.error,
            "message": run.message,
            "fingerprint": run.fingerprint,
            "plan": [b for b in run.plan if b in blocks] if run.plan is not None else None,
            "results": results,
            "options": options,
            "queued_at": run.queued_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        },
        strict=False,
    )


def _dataset_doc(
    dataset: Dataset,
    versions: list[DatasetVersion],
    rules: list[QualityRule],
    results: list[QualityResult],
) -> DatasetDoc:
    quality: dict[int, list[QualityDoc]] = {}
    for r in results:
        quality.setdefault(r.version_id, []).append(
            QualityDoc(passed=r.passed, results=r.results or [], created_at=r.created_at)
        )
    own = [v for v in versions if v.dataset_id == dataset.id]
    own_ids = {v.id for v in own}
    return DatasetDoc.model_validate(
        {
            "id": dataset.id,
            "name": dataset.name,
            "description": dataset.description,
            "tags": list(dataset.tags or []),
            "created_at": dataset.created_at,
            "updated_at": dataset.updated_at,
            "rules": [
                RuleDoc.model_validate(
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "column": r.column,
                        "params": r.params or {},
                        "created_at": r.created_at,
                    },
                    strict=False,
                )
                for r in rules
                if r.dataset_id == dataset.id
            ],
            "versions": [
                VersionDoc.model_validate(
                    {
                        "id": v.id,
                        "number": v.number,
                        "parent_id": v.parent_id if v.parent_id in own_ids else None,
                        "blob": v.blob,
                        "size": v.size,
                        "format": v.format,
                        "row_count": v.row_count,
                        "columns": v.columns or [],
                        "read_options": v.read_options or {},
                        "source": v.source,
                        "status": v.status,
                        "problem": v.problem,
                        "filename": v.filename,
                        "created_at": v.created_at,
                        "quality": quality.get(v.id, []),
                    },
                    strict=False,
                )
                for v in own
            ],
        },
        strict=False,
    )


def write_bundle(
    target: Path, snap: Snapshot, store: BlobStore, artifacts: ArtifactStore, generator: str
) -> None:
    """Write the bundle zip to ``target`` (runs in a thread). Artifacts gone from disk
    are left out (with their references); a dataset blob gone or damaged is a 422."""
    doc = snap.doc
    sizes: dict[str, int] = {}
    for sha in snap.artifacts:
        path = artifacts.path(sha)
        if path.is_file():
            sizes[sha] = path.stat().st_size
    _drop_missing(doc, set(sizes))
    now = datetime.now(UTC)
    doc.artifacts = [
        ArtifactDoc(
            sha256=sha,
            mime=snap.artifacts[sha][:255] or "application/octet-stream",
            size=size,
            created_at=snap.created.get(sha, now),
        )
        for sha, size in sorted(sizes.items())
    ]
    blobs: dict[str, int] = {}
    for sha in sorted(snap.blobs):
        try:
            blobs[sha] = store.size(sha)
        except FileNotFoundError:
            raise Unprocessable(f"dataset blob {sha} is missing from storage") from None
    manifest = Manifest(
        format=FORMAT,
        version=VERSION,
        created_at=now,
        generator=generator,
        blobs=blobs,
        artifacts=sizes,
    )
    project_json = doc.model_dump_json().encode()
    if len(project_json) > JSON_MAX:
        raise Unprocessable(
            f"the project's rows take {len(project_json)} bytes as JSON; a bundle holds at "
            f"most {JSON_MAX}"
        )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr(MANIFEST, manifest.model_dump_json(indent=1))
        archive.writestr(PROJECT, project_json)
        for sha, size in blobs.items():
            with store.open(sha) as source:
                _copy(archive, BLOBS + sha, source, size, sha)
        for sha, size in sorted(sizes.items()):
            with artifacts.path(sha).open("rb") as source:
                _copy(archive, ARTIFACTS + sha, source, size, sha)


def _drop_missing(doc: ProjectDoc, present: set[str]) -> None:
    """Outputs stop naming artifacts whose files are gone (nothing could show them)."""
    for run in doc.runs:
        for output in run.outputs:
            refs = output.get("artifacts")
            if isinstance(refs, dict):
                output["artifacts"] = {
                    mime: ref
                    for mime, ref in refs.items()
                    if isinstance(ref, dict) and ref.get("id") in present
                }


def _method(first: bytes) -> int:
    """Deflate what compresses a bit but not extremely (the importer refuses entries
    past its ratio limit as bombs); store the rest (images, Parquet, runs of zeros)."""
    if len(first) < PROBE_SMALL:
        return zipfile.ZIP_DEFLATED
    ratio = len(first) / max(1, len(zlib.compress(first, 1)))
    return zipfile.ZIP_DEFLATED if 1.1 < ratio <= STORE_ABOVE_RATIO else zipfile.ZIP_STORED


def _copy(archive: zipfile.ZipFile, name: str, source: IO[bytes], size: int, digest: str) -> None:
    """Copy a file into the zip in pieces, checking its bytes against its sha256."""
    first = source.read(CHUNK)
    info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = _method(first)
    info._compresslevel = 1  # type: ignore[attr-defined]  # fast: data files are large
    info.file_size = size
    sha = hashlib.sha256(first)
    count = len(first)
    with archive.open(info, "w", force_zip64=size > (1 << 30)) as out:
        out.write(first)
        while chunk := source.read(CHUNK):
            sha.update(chunk)
            count += len(chunk)
            out.write(chunk)
    if sha.hexdigest() != digest or count != size:
        raise Unprocessable(f"{name} does not match its sha256 in storage (damaged)")
