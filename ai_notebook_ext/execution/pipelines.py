"""Pipeline runs: plan a target over the project's DAG and run the plan's blocks.

A pipeline run is a Run row of kind ``pipeline`` holding its plan, its options and a
result per block; each block it executes is an ordinary block run (``parent_id`` points
at the pipeline), queued in the project's kernel like any other. A failed block makes its
descendants in the plan ``skipped`` with the reason; independent branches go on, unless
``stop_on_error``. Retries re-run a failed block up to ``retries`` more times. A cancel
interrupts the block running and cancels what is left.

Role rules: editors start and cancel pipelines; viewers read them as runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, update

from ..dag.graph import Graph
from ..dag.plan import make_plan
from ..dag.service import load_graph, run_facts
from ..dag.state import fingerprints, states
from ..errors import ApiError, BadRequest, NotFound
from ..events import PIPELINE_BLOCK, Events
from ..projects.access import authorize
from ..projects.users import Actor
from ..store import Database
from ..store.models import RUN_FINAL, Run
from ..store.types import utcnow
from .schemas import BlockResult, PipelineCreate, RunOut
from .service import RunService

log = logging.getLogger(__name__)

runs_table = Run.__table__


@dataclass
class PipelineState:
    """A pipeline that is executing: its results so far and how to stop it."""

    run: RunOut
    actor: Actor
    graph: Graph
    options: PipelineCreate
    results: dict[int, dict[str, Any]]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    current: int | None = None  # the block run executing now
    task: asyncio.Future[None] | None = None


def _models(results: list[dict[str, Any]]) -> list[BlockResult]:
    return [BlockResult.model_validate(r) for r in results]


def _summary(results: dict[int, dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    order = ("succeeded", "failed", "skipped", "cancelled", "pending")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s)) or "nothing to run"


class PipelineService:
    """Starts, runs, cancels and stops pipeline runs."""

    def __init__(self, db: Database, runs: RunService, events: Events) -> None:
        self.db = db
        self.runs = runs
        self.events = events
        self._active: dict[int, PipelineState] = {}

    # --- API -------------------------------------------------------------------------

    async def start(
        self, actor: Actor, project_id: int, options: PipelineCreate, wait: bool
    ) -> RunOut:
        """Plan ``options.target`` and start running it; with ``wait``, return at the end."""
        if options.parallel > 1:
            raise BadRequest(
                "parallel: only 1 is supported so far (parallel branches are not built yet)",
                details={"field": "parallel", "max": 1},
            )
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "running pipelines")
            graph, _, _ = await load_graph(session, project_id)
            targets = self._targets(graph, options)
            facts = await run_facts(session, project_id, self.runs.live_generation(project_id))
        plan = make_plan(graph, states(graph, fingerprints(graph), facts), options.target, targets)
        results = {
            b: {
                "block_id": b,
                "status": "pending",
                "run_id": None,
                "attempts": 0,
                "reason": plan.reasons[b],
            }
            for b in plan.order
        }
        run = await self._insert(actor, project_id, options, plan.order, results)
        state = PipelineState(run, actor, graph, options, results)
        self.runs.events.status(project_id, run.id, None, run.status)
        if not plan.order:
            return run
        self._active[run.id] = state
        state.task = asyncio.ensure_future(self._execute(state))
        if not wait:
            return run
        await asyncio.shield(state.task)
        return state.run

    async def wait(self, run_id: int) -> RunOut | None:
        """The pipeline run once it has ended (None if it is not executing here)."""
        state = self._active.get(run_id)
        if state is None or state.task is None:
            return None
        await asyncio.shield(state.task)
        return state.run

    async def cancel(self, actor: Actor, project_id: int, run_id: int) -> RunOut:
        """Cancel a pipeline run (its running block is interrupted), or a block run."""
        state = self._active.get(run_id)
        if state is None or state.run.project_id != project_id:
            return await self.runs.cancel(actor, project_id, run_id)
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "cancelling runs")
        state.cancel.set()
        if state.current is not None:
            await self.runs.stop_run(project_id, state.current)
        return state.run

    async def stop(self) -> None:
        """Server shutdown: stop every pipeline; unfinished ones end interrupted."""
        for state in list(self._active.values()):
            state.cancel.set()
            if state.task is not None:
                state.task.cancel()
        for state in list(self._active.values()):
            for result in state.results.values():
                if result["status"] in ("pending", "running"):
                    result["status"] = "cancelled"
                    result["reason"] = "the server stopped"
            try:
                await self._save(
                    state, "interrupted", "the server stopped before this run finished"
                )
            except Exception:
                log.exception("ai_notebook_ext: recording pipeline %s as interrupted", state.run.id)
        self._active.clear()

    # --- planning ----------------------------------------------------------------------

    @staticmethod
    def _targets(graph: Graph, options: PipelineCreate) -> list[int]:
        """The blocks the target names, checked against the project's code blocks."""
        if options.target in ("upstream", "downstream"):
            if options.block_id is None:
                raise BadRequest(
                    f"block_id is required for target {options.target!r}",
                    details={"field": "block_id"},
                )
            wanted, name = [options.block_id], "block_id"
        elif options.target == "blocks":
            if not options.block_ids:
                raise BadRequest(
                    "block_ids is required for target 'blocks'", details={"field": "block_ids"}
                )
            wanted, name = list(dict.fromkeys(options.block_ids)), "block_ids"
        else:
            return []
        for block in wanted:
            if block not in graph.sources:
                raise NotFound(
                    f"{name}: block {block} is not a code block of this project",
                    details={"field": name, "block_id": block},
                )
        return wanted

    # --- execution ---------------------------------------------------------------------

    async def _execute(self, state: PipelineState) -> None:
        """Run the plan in order; whatever happens, the pipeline run ends with a status."""
        run, results = state.run, state.results
        stopped = ""
        try:
            for block in run.plan or []:
                result = results[block]
                if state.cancel.is_set():
                    await self._set(state, block, "cancelled", reason="the pipeline was cancelled")
                    continue
                bad = [
                    p
                    for p in state.graph.parents(block)
                    if p in results and results[p]["status"] in ("failed", "skipped", "cancelled")
                ]
                if stopped:
                    await self._set(state, block, "skipped", reason=stopped)
                    continue
                if bad:
                    parent = min(bad, key=(run.plan or []).index)
                    why = f"upstream block {parent} {results[parent]['status']}"
                    await self._set(state, block, "skipped", reason=why)
                    continue
                await self._run_block(state, block)
                if result["status"] == "failed" and state.options.stop_on_error:
                    stopped = f"stopped after block {block} failed (stop_on_error)"
            if state.cancel.is_set():
                status = "cancelled"
            elif any(r["status"] == "failed" for r in results.values()):
                status = "failed"
            else:
                status = "succeeded"
            await self._save(state, status, _summary(results))
        except asyncio.CancelledError:
            raise  # server stopping: stop() records it
        except Exception as exc:
            log.exception("ai_notebook_ext: pipeline %s failed inside the server", run.id)
            message = f"the server failed while running this pipeline ({type(exc).__name__})"
            try:
                await self._save(state, "failed", message)
            except Exception:
                log.exception("ai_notebook_ext: recording the failure of pipeline %s", run.id)
        finally:
            self._active.pop(run.id, None)

    async def _run_block(self, state: PipelineState, block: int) -> None:
        """Run one block, with retries; records its result."""
        run = state.run
        for attempt in range(1, state.options.retries + 2):
            await self._set(state, block, "running", attempts=attempt, run_id=None)
            try:
                submitted = await self.runs.submit(
                    state.actor, run.project_id, block, wait=False, parent_id=run.id
                )
            except ApiError as exc:  # the block was deleted, the caller lost the role...
                await self._set(state, block, "failed", reason=exc.message)
                return
            state.current = submitted.id
            await self._set(state, block, "running", run_id=submitted.id)
            try:
                out = await self.runs.result(submitted.id)
            finally:
                state.current = None
            if out.status == "succeeded":
                await self._set(state, block, "succeeded")
                return
            if out.status == "cancelled" or state.cancel.is_set():
                await self._set(state, block, "cancelled", reason=out.message or "cancelled")
                return
            await self._set(state, block, "failed", reason=out.message or out.status)
            if attempt <= state.options.retries:
                log.info("ai_notebook_ext: pipeline %s retries block %s", run.id, block)

    async def _set(self, state: PipelineState, block: int, status: str, **changes: Any) -> None:
        """Change a block's result, persist the results, then announce the change."""
        result = state.results[block]
        result["status"] = status
        result.update(changes)
        results = list(state.results.values())
        async with self.db.connection() as conn:
            await conn.execute(
                update(runs_table).where(runs_table.c.id == state.run.id).values(results=results)
            )
        state.run = state.run.model_copy(update={"results": _models(results)})
        self.events.emit(
            PIPELINE_BLOCK,
            {
                "project_id": state.run.project_id,
                "run_id": state.run.id,
                "block_id": block,
                "status": status,
                "block_run_id": result["run_id"],
                "attempt": result["attempts"],
                "reason": str(result["reason"])[:500],
            },
        )

    # --- storage -----------------------------------------------------------------------

    async def _insert(
        self,
        actor: Actor,
        project_id: int,
        options: PipelineCreate,
        plan: list[int],
        results: dict[int, dict[str, Any]],
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
        }
        async with self.db.connection() as conn:
            run_id = (
                await conn.execute(insert(runs_table).returning(runs_table.c.id), values)
            ).scalar_one()
        return RunOut.model_validate(
            {
                **values,
                "id": run_id,
                "timeout_seconds": None,
                "execution_count": None,
                "error": None,
                "kernel_generation": None,
            }
        )

    async def _save(self, state: PipelineState, status: str, message: str) -> None:
        """Persist the final status and results of the pipeline run."""
        assert status in RUN_FINAL
        values = {
            "status": status,
            "message": message,
            "results": list(state.results.values()),
            "finished_at": utcnow(),
        }
        async with self.db.connection() as conn:
            await conn.execute(
                update(runs_table)
                .where(runs_table.c.id == state.run.id, runs_table.c.status == "running")
                .values(**values)
            )
        state.run = state.run.model_copy(update={**values, "results": _models(values["results"])})
        self.runs.events.status(state.run.project_id, state.run.id, None, status, None, message)
