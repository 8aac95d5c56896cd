"""A pipeline run on record: its row, its block results (announced at once, written
coalesced) and its end."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, update

from .. import metrics
from ..dag.graph import Graph
from ..events import PIPELINE_BLOCK, Events
from ..projects.users import Actor
from ..store import Database
from ..store.models import RUN_FINAL, Run
from ..store.types import utcnow
from .live import LiveRun
from .progress import RunEvents
from .schemas import BlockResult, PipelineCreate, RunOut

log = logging.getLogger(__name__)

runs_table = Run.__table__
PERSIST_INTERVAL = 0.2  # seconds between writes of a running pipeline's results


@dataclass
class PipelineState:
    """A pipeline that is executing: its results so far and how to stop it."""

    run: RunOut
    actor: Actor
    graph: Graph
    options: PipelineCreate
    results: dict[int, dict[str, Any]]
    project_name: str = ""
    working_dir: str = ""
    fingerprints: dict[int, str] = field(default_factory=dict)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    current: int | None = None  # the block run executing now
    ahead: tuple[int, LiveRun] | None = None  # the next block, sent ahead (sequential)
    flush: asyncio.Future[None] | None = None  # a pending write of the results
    task: asyncio.Future[None] | None = None


def models(results: list[dict[str, Any]]) -> list[BlockResult]:
    return [BlockResult.model_validate(r) for r in results]


class PipelineStore:
    """Writes pipeline runs and announces their block results."""

    def __init__(
        self,
        db: Database,
        events: Events,
        run_events: RunEvents,
        server_id: str | None = None,
    ) -> None:
        self.db = db
        self.events = events
        self.run_events = run_events
        self.server_id = server_id  # the server owning the pipeline runs (servers/)

    async def insert(
        self,
        actor: Actor,
        project_id: int,
        options: PipelineCreate,
        plan: list[int],
        results: dict[int, dict[str, Any]],
        schedule_id: int | None = None,
    ) -> RunOut:
        now = utcnow()
        values: dict[str, Any] = {
            "project_id": project_id,
            "block_id": None,
            "user_id": actor.id,
            "kind": "pipeline",
            "status": "running" if plan else "succeeded",
            "source": "",
            "block_version": 1,
            "outputs": [],
            "message": "" if plan else "nothing to run: every targeted block is fresh",
            "queued_at": now,
            "started_at": now,
            "finished_at": None if plan else now,
            "plan": plan,
            "results": list(results.values()),
            "options": options.model_dump(mode="json"),
            "trigger": "manual" if schedule_id is None else "schedule",
            "schedule_id": schedule_id,
            "server_id": self.server_id,
        }
        async with self.db.connection() as conn:
            run_id = (
                await conn.execute(insert(runs_table).returning(runs_table.c.id), values)
            ).scalar_one()
        run = RunOut.model_validate(
            {
                **values,
                "id": run_id,
                "timeout_seconds": None,
                "execution_count": None,
                "error": None,
                "kernel_generation": None,
            }
        )
        self.run_events.status(project_id, run.id, None, run.status, kind="pipeline")
        for block in plan:  # what waits in the plan shows as queued at once, everywhere
            self._announce(project_id, run.id, block, results[block])
        return run

    async def set(self, state: PipelineState, block: int, status: str, **changes: Any) -> None:
        """Change a block's result, announce it, and persist the results soon (writes are
        coalesced to one per PERSIST_INTERVAL: a long plan would otherwise rewrite its
        results twice per block; the end of the pipeline writes them all)."""
        result = state.results[block]
        result["status"] = status
        result.update(changes)
        if state.flush is None:
            state.flush = asyncio.ensure_future(self._persist_soon(state))
        self._announce(state.run.project_id, state.run.id, block, result)

    def _announce(self, project_id: int, run_id: int, block: int, result: dict[str, Any]) -> None:
        """A block's result in the pipeline, to the project's members."""
        self.events.emit(
            PIPELINE_BLOCK,
            {
                "project_id": project_id,
                "run_id": run_id,
                "block_id": block,
                "status": result["status"],
                "block_run_id": result["run_id"],
                "attempt": result["attempts"],
                "reason": str(result["reason"])[:500],
            },
        )

    async def _persist_soon(self, state: PipelineState) -> None:
        """Write the results after a short pause that gathers the changes made meanwhile."""
        try:
            await asyncio.sleep(PERSIST_INTERVAL)
            state.flush = None
            results = list(state.results.values())
            async with self.db.connection() as conn:
                await conn.execute(
                    update(runs_table)
                    .where(runs_table.c.id == state.run.id, runs_table.c.status == "running")
                    .values(results=results)
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ai_notebook_ext: saving the results of pipeline %s", state.run.id)

    async def save(self, state: PipelineState, status: str, message: str) -> None:
        """Persist the final status and results of the pipeline run, then announce it."""
        assert status in RUN_FINAL
        if state.flush is not None:
            state.flush.cancel()
            state.flush = None
        values = {
            "status": status,
            "message": message,
            "results": list(state.results.values()),
            "finished_at": utcnow(),
        }
        async with self.db.connection() as conn:
            done = await conn.execute(
                update(runs_table)
                .where(runs_table.c.id == state.run.id, runs_table.c.status == "running")
                .values(**values)
            )
        if done.rowcount:
            metrics.pipeline_ended(status, values["results"])
        state.run = state.run.model_copy(update={**values, "results": models(values["results"])})
        self.run_events.status(
            state.run.project_id, state.run.id, None, status, None, message, kind="pipeline"
        )
