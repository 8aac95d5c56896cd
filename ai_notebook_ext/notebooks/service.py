"""Import a notebook as a project and export a project as a notebook (with outputs).

Role rules: anyone may import (they own the new project); viewers export.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import nbformat
from pydantic import ValidationError
from sqlalchemy import select

from ..errors import BadRequest
from ..execution.artifacts import ArtifactStore
from ..execution.outputs import StoredArtifact, externalize, storable
from ..projects.access import authorize
from ..projects.schemas import SOURCE_MAX, ProjectCreate, ProjectOut, storable_text
from ..projects.service import new_project
from ..projects.users import Actor
from ..store import Database
from ..store.models import Artifact, Block, Run
from ..store.types import utcnow
from .convert import Cell, NotebookError, cells_of, inline_artifacts, read_notebook, title_of
from .convert import to_notebook as build_notebook

MAX_CELLS = 10_000
IMPORTED = "imported from the notebook"


def safe_filename(name: str) -> str:
    """A download file name made from a project name (no paths, no odd characters)."""
    stem = re.sub(r"[^\w.-]+", "-", name).strip(".-")[:100] or "project"
    return f"{stem}.ipynb"


class NotebookService:
    """Moves notebooks in and out of projects."""

    def __init__(
        self, db: Database, artifacts: ArtifactStore, text_limit: int, kernel_name: str
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.text_limit = text_limit
        self.kernel_name = kernel_name
        # project id -> ``metadata.widgets`` of its live kernel (execution/widgets.py)
        self.widgets: Callable[[int], dict[str, Any] | None] | None = None

    async def import_notebook(
        self,
        actor: Actor,
        document: dict[str, Any] | str,
        name: str | None = None,
        fallback_name: str = "Imported notebook",
    ) -> ProjectOut:
        """A new project holding the notebook's cells as blocks, outputs as last runs.
        Its name: ``name``, else the notebook's title or first heading, else the fallback."""
        try:
            notebook = read_notebook(document)
        except NotebookError as exc:
            raise BadRequest(str(exc), details={"field": "notebook"}) from None
        cells = cells_of(notebook)
        if len(cells) > MAX_CELLS:
            raise BadRequest(
                f"the notebook has {len(cells)} cells; at most {MAX_CELLS} can be imported",
                details={"field": "notebook"},
            )
        for index, cell in enumerate(cells):
            _check_source(index, cell.source)
        try:
            project_data = ProjectCreate(name=name or title_of(notebook, fallback_name))
        except ValidationError as exc:
            raise BadRequest(f"name: {exc.errors()[0]['msg']}", details={"field": "name"}) from None
        stored_outputs, artifacts = await asyncio.to_thread(self._externalize, cells)
        async with self.db.session() as session:
            project = await new_project(session, actor, project_data)
            now = utcnow()
            blocks = [
                Block(
                    project_id=project.id,
                    position=i,
                    kind=cell.kind,
                    source=cell.source,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                for i, cell in enumerate(cells)
            ]
            session.add_all(blocks)
            await session.flush()
            runs: list[tuple[Block, Run]] = []
            for block, cell, outputs in zip(blocks, cells, stored_outputs, strict=True):
                if cell.kind != "code" or (not outputs and cell.execution_count is None):
                    continue
                runs.append((block, _imported_run(project.id, block, actor, cell, outputs)))
            session.add_all([run for _, run in runs])
            await session.flush()
            for block, run in runs:
                block.last_run_id = run.id
            for art in {a.sha256: a for a in artifacts}.values():
                session.add(
                    Artifact(
                        project_id=project.id,
                        sha256=art.sha256,
                        mime=art.mime[:255],
                        size=art.size,
                        created_at=now,
                    )
                )
            return project

    def _externalize(
        self, cells: list[Cell]
    ) -> tuple[list[list[dict[str, Any]]], list[StoredArtifact]]:
        """Outputs with images and long text moved to artifacts, per cell."""
        result, stored = [], []
        for cell in cells:
            outputs, arts = externalize(storable(cell.outputs), self.artifacts.put, self.text_limit)
            result.append(outputs)
            stored.extend(arts)
        return result, stored

    async def export_notebook(self, actor: Actor, project_id: int) -> tuple[str, str]:
        """(file name, .ipynb text) of the project: blocks in order with their last outputs."""
        async with self.db.session() as session:
            project, _ = await authorize(session, actor, project_id, "viewer", "exporting")
            blocks = list(
                await session.scalars(
                    select(Block).where(Block.project_id == project_id).order_by(Block.position)
                )
            )
            run_ids = [b.last_run_id for b in blocks if b.last_run_id is not None]
            runs = {
                r.id: r
                for r in (
                    await session.scalars(select(Run).where(Run.id.in_(run_ids))) if run_ids else []
                )
            }
            name = project.name
        cells = []
        for block in blocks:
            run = runs.get(block.last_run_id) if block.last_run_id is not None else None
            if block.kind == "code" and run is not None:
                outputs = await asyncio.to_thread(inline_artifacts, run.outputs, self._read)
                cells.append(Cell("code", block.source, outputs, run.execution_count))
            else:
                cells.append(Cell(block.kind, block.source))
        notebook = build_notebook(cells, self.kernel_name, "Python 3 (AI Notebook)")
        widgets = self.widgets(project_id) if self.widgets is not None else None
        if widgets:  # the widgets' state, as nbclient writes it
            notebook.metadata["widgets"] = widgets
        return safe_filename(name), nbformat.writes(notebook)

    def _read(self, sha256: str) -> bytes | None:
        try:
            return self.artifacts.path(sha256).read_bytes()
        except (OSError, ValueError):
            return None


def _check_source(index: int, source: str) -> None:
    try:
        storable_text(source)
    except ValueError as exc:
        raise BadRequest(
            f"cell {index}: {exc}", details={"field": "notebook", "cell": index}
        ) from None
    if len(source) > SOURCE_MAX:
        raise BadRequest(
            f"cell {index}: its source has {len(source)} characters; at most {SOURCE_MAX}",
            details={"field": "notebook", "cell": index},
        )


def _imported_run(
    project_id: int, block: Block, actor: Actor, cell: Cell, outputs: list[dict[str, Any]]
) -> Run:
    """The block's last run as the notebook recorded it (never fresh: no kernel ran it)."""
    now = utcnow()
    errors = [o for o in outputs if o.get("output_type") == "error"]
    error = None
    if errors:
        first = errors[0]
        error = {
            "ename": first.get("ename", ""),
            "evalue": first.get("evalue", ""),
            "traceback": first.get("traceback", []),
            "reason": "error",
        }
    count = cell.execution_count
    return Run(
        project_id=project_id,
        block_id=block.id,
        user_id=actor.id,
        kind="block",
        status="failed" if error else "succeeded",
        source=cell.source,
        block_version=1,
        execution_count=count if isinstance(count, int) and 0 <= count < 2**31 else None,
        outputs=outputs,
        error=storable(error),
        message=IMPORTED,
        queued_at=now,
        started_at=now,
        finished_at=now,
    )
