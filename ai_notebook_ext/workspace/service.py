"""The workspace of a project in one request, with a fixed number of SQL statements.

Whatever the number of blocks: the caller's role (2), the owner's name (1), the blocks
(1), the graph (2), the blocks' last runs (1), the run facts of the DAG's states (3), the
newest runs per block (1), recent pipelines (1) and the kernel's row (1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from ..dag.reasons import stale_reason
from ..dag.service import edges_out, load_graph, run_facts
from ..dag.state import RunFacts, fingerprints, states
from ..execution.schemas import RunOut
from ..projects.access import authorize
from ..projects.schemas import BlockOut
from ..projects.service import project_out
from ..projects.users import Actor
from ..store import Database
from ..store.models import Block, ProjectKernel, Run
from .schemas import WorkspaceBlock, WorkspaceOut
from .states import block_state, current_mark, pipeline_marks

if TYPE_CHECKING:
    from ..execution.service import RunService

RECENT_PIPELINES = 20  # the pipelines whose results can mark a block skipped or queued


class WorkspaceService:
    """Reads everything a client shows when it opens a project."""

    def __init__(self, db: Database, runs: RunService) -> None:
        self.db = db
        self.runs = runs

    async def get(self, actor: Actor, project_id: int) -> WorkspaceOut:
        generation = self.runs.live_generation(project_id)
        async with self.db.session() as session:
            project, role = await authorize(session, actor, project_id, "viewer", "reading")
            project_json = await project_out(session, project, role)
            blocks = list(
                await session.scalars(
                    select(Block).where(Block.project_id == project_id).order_by(Block.position)
                )
            )
            graph, _, edge_ids = await load_graph(session, project_id)
            last_runs = {
                run.id: RunOut.model_validate(run)
                for run in await session.scalars(
                    select(Run).where(
                        Run.id.in_(
                            select(Block.last_run_id).where(
                                Block.project_id == project_id, Block.last_run_id.is_not(None)
                            )
                        )
                    )
                )
            }
            facts = await run_facts(session, project_id, generation)
            newest = dict(
                (
                    await session.execute(
                        select(Run.block_id, func.max(Run.id))
                        .where(Run.project_id == project_id, Run.block_id.is_not(None))
                        .group_by(Run.block_id)
                    )
                ).all()
            )
            pipelines = list(
                await session.execute(
                    select(Run.id, Run.status, Run.results)
                    .where(Run.project_id == project_id, Run.kind == "pipeline")
                    .order_by(Run.id.desc())
                    .limit(RECENT_PIPELINES)
                )
            )
            kernel_row = await session.get(ProjectKernel, project_id)
        prints = fingerprints(graph)
        dag_states = states(graph, prints, facts)
        marks = pipeline_marks(pipelines)
        out = []
        for block in blocks:
            last = last_runs.get(block.last_run_id) if block.last_run_id else None
            state = reason = None
            if block.id in dag_states:
                fact = facts.get(block.id, RunFacts())
                mark = current_mark(graph, block.id, newest, marks)
                state = block_state(dag_states[block.id], fact, newest.get(block.id), mark)
                if state == "stale":
                    ran = last.source if last is not None and last.status == "succeeded" else None
                    reason = stale_reason(
                        graph, block.id, dag_states, facts, ran, generation is not None
                    )
            base = BlockOut.model_validate(block).model_dump()
            out.append(WorkspaceBlock(**base, state=state, stale_reason=reason, last_run=last))
        edges, ignored = edges_out(graph, edge_ids)
        return WorkspaceOut(
            project=project_json,
            role=role,  # type: ignore[arg-type]
            blocks=out,
            edges=edges,
            ignored_edges=ignored,
            kernel=self.runs.control.describe(project_id, kernel_row),
            kernel_generation=generation,
        )
