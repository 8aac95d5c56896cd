"""Pipeline runs: plan a target over the project's DAG and run the plan's blocks.

A pipeline run is a Run row of kind ``pipeline`` holding its plan, its options and a
result per block; each block it executes is an ordinary block run (``parent_id`` points
at the pipeline), queued in the project's kernel like any other. A failed block makes its
descendants in the plan ``skipped`` with the reason; independent branches go on, unless
``stop_on_error``. Retries re-run a failed block up to ``retries`` more times. A cancel
interrupts the block running and cancels what is left.

Modules: pipeline_plan.py (targets, scheduling decisions), pipeline_loop.py (the loop),
pipeline_blocks.py (a block in the kernel, send-ahead), pipeline_batches.py (forked
workers), pipeline_store.py (the row and results).

Role rules: editors start and cancel pipelines; viewers read them as runs.
"""

from __future__ import annotations

import asyncio
import logging

from ..dag.plan import make_plan
from ..dag.service import load_graph, run_facts
from ..dag.state import fingerprints, overwritten, states
from ..events import Events
from ..projects.access import authorize
from ..projects.service import working_dir_for
from ..projects.users import Actor
from ..store import Database
from .pipeline_loop import PipelineLoop
from .pipeline_plan import initial_results, targets
from .pipeline_store import PipelineState, PipelineStore, models
from .schemas import PipelineCreate, RunOut
from .service import RunService

log = logging.getLogger(__name__)


class PipelineService:
    """Starts, runs, cancels and stops pipeline runs."""

    def __init__(self, db: Database, runs: RunService, events: Events) -> None:
        self.db = db
        self.runs = runs
        self.store = PipelineStore(db, events, runs.events, runs.server_id)
        self.loop = PipelineLoop(runs, self.store)
        self._active: dict[int, PipelineState] = {}

    async def start(
        self,
        actor: Actor,
        project_id: int,
        options: PipelineCreate,
        wait: bool,
        *,
        schedule_id: int | None = None,
    ) -> RunOut:
        """Plan ``options.target`` and start running it; with ``wait``, return at the end.
        ``schedule_id``: the schedule firing it (the run is marked as scheduled)."""
        async with self.db.session() as session:
            project, _ = await authorize(session, actor, project_id, "editor", "running pipelines")
            where = (project.name, working_dir_for(project_id, project.working_dir))
            graph, _, _ = await load_graph(session, project_id)
            wanted = targets(graph, options)
            if self.runs.live_generation(project_id) is None and graph.sources:
                # No live kernel: nothing is fresh, so the plan runs blocks; the kernel
                # starts while the plan is made.
                self.runs.warm_up(project_id, *where)
            facts = await run_facts(session, project_id, self.runs.live_generation(project_id))
        prints = fingerprints(graph)
        lost = overwritten(graph, facts)
        plan = make_plan(graph, states(graph, prints, facts, lost), options.target, wanted, lost)
        results = initial_results(plan)
        run = await self.store.insert(actor, project_id, options, plan.order, results, schedule_id)
        if not plan.order:
            return run
        state = PipelineState(run, actor, graph, options, results, *where, prints)
        self._active[run.id] = state
        state.task = asyncio.ensure_future(self._execute(state))
        if not wait:
            return run
        await asyncio.shield(state.task)
        return state.run

    async def _execute(self, state: PipelineState) -> None:
        try:
            await self.loop.execute(state)
        finally:
            self._active.pop(state.run.id, None)

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
        return state.run.model_copy(update={"results": models(list(state.results.values()))})

    async def project_deleted(self, project_id: int, working_dir: str) -> None:
        """A deleted project's pipelines stop before its kernel is shut down
        (``ProjectService.on_deleted``); else a batch still planning would start a new
        kernel for a project that is gone. Their rows went with the project."""
        ending = [s for s in self._active.values() if s.run.project_id == project_id]
        for state in ending:
            state.cancel.set()
            if state.task is not None:
                state.task.cancel()
        tasks = [s.task for s in ending if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)

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
                await self.store.save(
                    state, "interrupted", "the server stopped before this run finished"
                )
            except Exception:
                log.exception("ai_notebook_ext: recording pipeline %s as interrupted", state.run.id)
        self._active.clear()
