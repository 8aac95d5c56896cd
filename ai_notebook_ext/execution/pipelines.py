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
from ..projects.service import working_dir_for
from ..projects.users import Actor
from ..store import Database
from ..store.models import RUN_FINAL, Run
from ..store.types import utcnow
from . import runner
from .batches import (
    KERNEL,
    WORKER,
    batch_code,
    batch_results,
    block_outputs,
    ineligible,
    schedulable,
)
from .schemas import BlockResult, PipelineCreate, RunOut
from .service import RunService

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
    flush: asyncio.Future[None] | None = None  # a pending write of the results
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
        async with self.db.session() as session:
            project, _ = await authorize(session, actor, project_id, "editor", "running pipelines")
            where = (project.name, working_dir_for(project_id, project.working_dir))
            graph, _, _ = await load_graph(session, project_id)
            targets = self._targets(graph, options)
            facts = await run_facts(session, project_id, self.runs.live_generation(project_id))
        prints = fingerprints(graph)
        plan = make_plan(graph, states(graph, prints, facts), options.target, targets)
        results = {
            b: {
                "block_id": b,
                "status": "pending",
                "run_id": None,
                "attempts": 0,
                "reason": plan.reasons[b],
                "where": KERNEL,
            }
            for b in plan.order
        }
        run = await self._insert(actor, project_id, options, plan.order, results)
        state = PipelineState(run, actor, graph, options, results, *where, prints)
        self.runs.events.status(project_id, run.id, None, run.status, kind="pipeline")
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
        return state.run.model_copy(update={"results": _models(list(state.results.values()))})

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
        """Run the plan: one block at a time in the project kernel, or with ``parallel``
        above 1, ready independent blocks together in forked workers. Whatever happens,
        the pipeline run ends with a status."""
        run, results = state.run, state.results
        plan = list(run.plan or [])
        remaining, stopped = list(plan), ""
        try:
            while remaining:
                if state.cancel.is_set():
                    for block in remaining:
                        await self._set(
                            state, block, "cancelled", reason="the pipeline was cancelled"
                        )
                    break
                for block in list(remaining):
                    why = stopped or self._blocked_by_failure(state, block)
                    if why:
                        await self._set(state, block, "skipped", reason=why)
                        remaining.remove(block)
                if not remaining:
                    break
                unit = self._next_unit(state, plan, remaining)
                if len(unit) == 1:
                    await self._run_block(state, unit[0])
                else:
                    await self._run_batch(state, unit)
                for block in unit:
                    remaining.remove(block)
                    if results[block]["status"] == "failed" and state.options.stop_on_error:
                        stopped = stopped or f"stopped after block {block} failed (stop_on_error)"
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

    @staticmethod
    def _blocked_by_failure(state: PipelineState, block: int) -> str:
        """Why the block is skipped because of an upstream block ("" if it is not)."""
        results, plan = state.results, state.run.plan or []
        bad = [
            p
            for p in state.graph.parents(block)
            if p in results and results[p]["status"] in ("failed", "skipped", "cancelled")
        ]
        if not bad:
            return ""
        parent = min(bad, key=plan.index)
        return f"upstream block {parent} {results[parent]['status']}"

    @staticmethod
    def _next_unit(state: PipelineState, plan: list[int], remaining: list[int]) -> list[int]:
        """The next block to run alone, or the blocks to run together in forked workers."""
        if state.options.parallel <= 1:
            return [remaining[0]]
        succeeded = {b for b, r in state.results.items() if r["status"] == "succeeded"}
        ready = schedulable(state.graph, plan, remaining, succeeded) or [remaining[0]]
        forkable = [b for b in ready if not ineligible(state.graph.analyses[b])]
        return forkable if len(forkable) > 1 else [ready[0]]

    async def _run_block(
        self, state: PipelineState, block: int, first_attempt: int = 1, where: str = KERNEL
    ) -> None:
        """Run one block in the project kernel, with retries; records its result."""
        run = state.run
        for attempt in range(first_attempt, state.options.retries + 2):
            await self._set(state, block, "running", attempts=attempt, run_id=None, where=where)
            try:
                submitted = await self.runs.submit(
                    state.actor,
                    run.project_id,
                    block,
                    wait=False,
                    parent_id=run.id,
                    expected=(state.graph.sources[block], state.fingerprints[block]),
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

    async def _run_batch(self, state: PipelineState, blocks: list[int]) -> None:
        """Run ``blocks`` together in forked workers of the project kernel (one batch with
        the kernel to itself), then record each block's run; blocks whose results could not
        travel back, or that failed and may be retried, run again in the kernel."""
        run = state.run
        opened = {}
        for block in blocks:
            try:
                opened[block] = await self.runs.open_run(state.actor, run.project_id, block, run.id)
            except ApiError as exc:
                await self._set(state, block, "failed", reason=exc.message, attempts=1)
                continue
            await self._set(
                state, block, "running", attempts=1, run_id=opened[block].id, where=WORKER
            )
        if not opened:
            return
        payload = [
            {
                "block_id": b,
                "code": opened[b].source,
                "names": sorted(state.graph.writes[b]),
                "timeout": opened[b].timeout_seconds,
            }
            for b in opened
        ]
        code = batch_code(payload, state.options.parallel)
        recorded: set[int] = set()
        again: list[tuple[int, str, int]] = []
        generation: list[int] = []

        async def record(collector: Any) -> None:
            """Record each block as the batch reports it ended (outputs arrive live)."""
            for block, summary in batch_results(collector.outputs).items():
                if block in opened and block not in recorded:
                    recorded.add(block)
                    await self._record(state, block, opened[block], summary, again, generation)

        async def job(handle: Any) -> Any:
            generation.append(handle.generation)
            return await runner.execute(
                self.runs.kernels,
                handle,
                code,
                time_limit=None,
                cancel=state.cancel,
                on_output=record,
                silent=True,
            )

        result = await self.runs.exclusive(
            run.project_id, state.project_name, state.working_dir, job
        )
        for block, block_run in opened.items():
            if block in recorded:
                continue
            if state.cancel.is_set() or result.status == "cancelled":
                await self.runs.close_run(block_run, "cancelled", [], message="cancelled")
                await self._set(state, block, "cancelled", reason="the pipeline was cancelled")
                continue
            why = result.message or "the batch ended without its result"
            await self.runs.close_run(block_run, "failed", [], message=why[:500])
            again.append((block, f"{KERNEL}: forked workers failed ({why[:200]})", 2))
        for block, where, first in again:
            await self._run_block(state, block, first_attempt=first, where=where)

    async def _record(
        self,
        state: PipelineState,
        block: int,
        block_run: RunOut,
        summary: dict[str, Any],
        again: list[tuple[int, str, int]],
        generation: list[int],
    ) -> None:
        """Store a forked block's run and result; queue what must run again in the kernel."""
        outputs = block_outputs(summary)
        error = summary.get("error")
        gen = generation[0] if generation else None
        if summary["status"] == "cancelled":
            await self.runs.close_run(block_run, "cancelled", outputs, message="cancelled")
            await self._set(state, block, "cancelled", reason="the pipeline was cancelled")
        elif summary.get("unshippable"):
            why = "; ".join(summary["unshippable"])[:300]
            message = f"its results could not travel back ({why}): it runs again"
            await self.runs.close_run(block_run, "cancelled", outputs, message=message)
            again.append((block, f"{KERNEL}: could not ship back {why}", 1))
        elif error:
            message = f"{error.get('ename')}: {error.get('evalue')}"[:500]
            reason = "timeout" if error.get("ename") == "TimeoutError" else "error"
            await self.runs.close_run(
                block_run,
                "failed",
                outputs,
                error={**error, "reason": reason},
                message=message,
                generation=gen,
            )
            await self._set(state, block, "failed", reason=message)
            if state.options.retries and not state.cancel.is_set():
                again.append((block, KERNEL, 2))
        else:
            await self.runs.close_run(block_run, "succeeded", outputs, generation=gen)
            await self._set(state, block, "succeeded")

    async def _set(self, state: PipelineState, block: int, status: str, **changes: Any) -> None:
        """Change a block's result, announce it, and persist the results soon (writes are
        coalesced to one per PERSIST_INTERVAL: a long plan would otherwise rewrite its
        results twice per block; the end of the pipeline writes them all)."""
        result = state.results[block]
        result["status"] = status
        result.update(changes)
        if state.flush is None:
            state.flush = asyncio.ensure_future(self._persist_soon(state))
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
            await conn.execute(
                update(runs_table)
                .where(runs_table.c.id == state.run.id, runs_table.c.status == "running")
                .values(**values)
            )
        state.run = state.run.model_copy(update={**values, "results": _models(values["results"])})
        self.runs.events.status(
            state.run.project_id, state.run.id, None, status, None, message, kind="pipeline"
        )
