"""A checked bundle becomes the rows of a new project, in the caller's transaction.

Every row gets a new id; references are remapped through the old -> new maps: edges and
runs to blocks, blocks to their last runs, block runs to their pipelines, pipelines'
plans and results, versions to their parents, lineage, quality results to rules. The
importer owns what the bundle's users made; runs keep no kernel generation (no kernel
holds their state, so nothing imported is fresh) and unfinished ones end interrupted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..execution.outputs import storable
from ..projects.schemas import ProjectCreate, ProjectOut
from ..projects.service import new_project
from ..projects.users import Actor
from ..store.dataset_models import Dataset, DatasetVersion, Lineage, QualityResult, QualityRule
from ..store.models import RUN_FINAL, Artifact, Block, Edge, Run
from .schema import DatasetDoc, ProjectDoc, RunDoc

UNFINISHED = "interrupted: it had not finished when the project was exported"
PROCESSING = "it was still being read when the project was exported"


async def insert_project(
    session: AsyncSession, actor: Actor, doc: ProjectDoc, data: ProjectCreate
) -> ProjectOut:
    """Insert the bundle's rows as a project owned by ``actor``."""
    project = await new_project(session, actor, data)
    pid = project.id
    ordered = sorted(doc.blocks, key=lambda b: (b.position, b.id))
    blocks = {
        b.id: Block(
            project_id=pid,
            position=i,
            kind=b.kind,
            source=b.source,
            version=b.version,
            timeout_seconds=b.timeout_seconds,
            created_at=b.created_at,
            updated_at=b.updated_at,
        )
        for i, b in enumerate(ordered)
    }
    session.add_all(blocks.values())
    await session.flush()
    block_ids = {old: row.id for old, row in blocks.items()}
    runs = {r.id: _run(pid, actor, r, block_ids) for r in doc.runs}
    session.add_all(runs.values())
    await session.flush()
    run_ids = {old: row.id for old, row in runs.items()}
    for r in doc.runs:
        row = runs[r.id]
        row.parent_id = run_ids.get(r.parent_id) if r.parent_id else None
        if r.results is not None:
            row.results = [
                {
                    **res.model_dump(mode="json"),
                    "block_id": block_ids[res.block_id],
                    "run_id": run_ids[res.run_id] if res.run_id else None,
                }
                for res in r.results
            ]
    for b in doc.blocks:
        if b.last_run_id is not None:
            blocks[b.id].last_run_id = run_ids[b.last_run_id]
    session.add_all(
        Edge(
            project_id=pid,
            source_id=block_ids[e.source_id],
            target_id=block_ids[e.target_id],
            created_by=actor.id,
            created_at=e.created_at,
        )
        for e in doc.edges
    )
    session.add_all(
        Artifact(project_id=pid, sha256=a.sha256, mime=a.mime, size=a.size, created_at=a.created_at)
        for a in doc.artifacts
    )
    version_ids: dict[int, int] = {}
    for d in doc.datasets:
        version_ids |= await _dataset(session, pid, actor, d)
    session.add_all(
        Lineage(
            run_id=run_ids[x.run_id],
            version_id=version_ids[x.version_id],
            direction=x.direction,
            created_at=x.created_at,
        )
        for x in doc.lineage
    )
    await session.flush()
    return project


def _run(pid: int, actor: Actor, r: RunDoc, block_ids: dict[int, int]) -> Run:
    options: dict[str, Any] | None = None
    if r.options is not None:
        options = dict(r.options)
        if isinstance(options.get("block_id"), int):
            options["block_id"] = block_ids[options["block_id"]]
        if isinstance(options.get("block_ids"), list):
            options["block_ids"] = [block_ids[b] for b in options["block_ids"]]  # type: ignore[index]
    finished = r.status in RUN_FINAL
    return Run(
        project_id=pid,
        block_id=block_ids[r.block_id] if r.block_id else None,
        user_id=actor.id,
        kind=r.kind,
        status=r.status if finished else "interrupted",
        source=r.source,
        block_version=r.block_version,
        timeout_seconds=r.timeout_seconds,
        execution_count=r.execution_count,
        outputs=storable(r.outputs),
        error=storable(r.error),
        message=r.message if finished else UNFINISHED,
        kernel_generation=None,
        fingerprint=r.fingerprint,
        plan=[block_ids[b] for b in r.plan] if r.plan is not None else None,
        results=None,
        options=storable(options),
        queued_at=r.queued_at,
        started_at=r.started_at,
        finished_at=r.finished_at if finished else (r.finished_at or r.started_at or r.queued_at),
    )


async def _dataset(session: AsyncSession, pid: int, actor: Actor, d: DatasetDoc) -> dict[int, int]:
    """One dataset with its rules, versions and their quality results; old -> new
    version ids."""
    dataset = Dataset(
        project_id=pid,
        name=d.name,
        description=d.description,
        tags=sorted(set(d.tags)),
        created_by=actor.id,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )
    session.add(dataset)
    await session.flush()
    rules = {
        r.id: QualityRule(
            dataset_id=dataset.id,
            kind=r.kind,
            column=r.column,
            params=storable(dict(r.params)),
            created_by=actor.id,
            created_at=r.created_at,
        )
        for r in d.rules
    }
    versions = {
        v.id: DatasetVersion(
            dataset_id=dataset.id,
            number=v.number,
            blob=v.blob,
            size=v.size,
            format=v.format,
            row_count=v.row_count,
            columns=[c.model_dump() for c in v.columns],
            read_options=dict(v.read_options),
            source=v.source,
            status="broken" if v.status == "processing" else v.status,
            problem=PROCESSING if v.status == "processing" else v.problem,
            filename=v.filename,
            created_by=actor.id,
            created_at=v.created_at,
        )
        for v in sorted(d.versions, key=lambda v: v.number)
    }
    session.add_all([*rules.values(), *versions.values()])
    await session.flush()
    rule_ids = {old: row.id for old, row in rules.items()}
    version_ids = {old: row.id for old, row in versions.items()}
    for v in d.versions:
        if v.parent_id is not None:
            versions[v.id].parent_id = version_ids.get(v.parent_id)
        session.add_all(
            QualityResult(
                version_id=version_ids[v.id],
                passed=q.passed,
                results=[_result(r, rule_ids) for r in storable(q.results)],
                created_at=q.created_at,
            )
            for q in v.quality
        )
    return version_ids


def _result(result: dict[str, Any], rule_ids: dict[int, int]) -> dict[str, Any]:
    """A rule's result names the rule by its new id (None: a rule since removed)."""
    old = result.get("rule_id")
    return {**result, "rule_id": rule_ids.get(old) if isinstance(old, int) else None}
