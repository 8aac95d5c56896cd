"""Runs of blocks: submit to the project's queue, execute, store outputs, control kernels.

Role rules: viewers read runs, kernel state and artifacts; editors run, cancel and control
the kernel. Every status change is persisted first, then announced as an event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from ..errors import BadRequest, Conflict, NotFound
from ..events import Events
from ..projects.access import authorize, require
from ..projects.blocks import get_block
from ..projects.schemas import Page
from ..projects.service import working_dir_for
from ..projects.users import Actor
from ..store import Database
from ..store.models import RUN_FINAL, Run, User
from ..store.types import utcnow
from . import runner
from . import statements as sql
from .artifacts import ArtifactStore
from .control import KernelControl
from .ending import RunEnding
from .kernels import KernelHandle, KernelStartError, ProjectKernels
from .progress import RunEvents
from .queue import ProjectQueues, Ticket
from .recovery import INTERRUPTED
from .schemas import RunOut

log = logging.getLogger(__name__)

T = TypeVar("T")


async def _project_run(session: Any, project_id: int, run_id: int) -> Run:
    """The run, if it belongs to the project (NotFound otherwise)."""
    run = await session.get(Run, run_id)
    if run is None or run.project_id != project_id:
        raise NotFound(f"run {run_id} not found in project {project_id}")
    return run


@dataclass
class Job:
    """What the worker needs to execute a submitted run, so it need not read it back."""

    run: RunOut
    project_name: str
    working_dir: str
    sent: runner.Sent | None = None  # already sent to the kernel when the run was created
    expected: tuple[str, str] | None = None  # (source, its fingerprint) known by the caller


class RunService:
    """Executes blocks in project kernels and keeps every run on record."""

    def __init__(
        self,
        db: Database,
        serverapp: Any,
        events: Events,
        *,
        kernel_name: str,
        artifact_dir: Path,
        text_limit: int,
        default_timeout: float | None,
        output_events: bool = True,
    ) -> None:
        self.db = db
        self.events = RunEvents(events, output_events)
        self.kernels = ProjectKernels(serverapp, db, kernel_name, self.events.kernel)
        self.queues = ProjectQueues(self._process)
        self.artifacts = ArtifactStore(artifact_dir)
        self.control = KernelControl(
            db, self.kernels, self.queues, self.artifacts, self.cancel_queued
        )
        self.ending = RunEnding(db, self.artifacts, self.events, text_limit)
        self.text_limit = text_limit
        self.default_timeout = default_timeout
        self._cancel: dict[int, asyncio.Event] = {}
        self._done: dict[int, asyncio.Event] = {}
        self._results: dict[int, RunOut] = {}  # finished runs a waiting request takes
        self._waiting: set[int] = set()
        self._on_end: dict[int, Callable[[RunOut], None]] = {}  # see submit()
        self._jobs: dict[int, Job] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        # async (run, reports): what ain read and wrote in a run; set by the datasets layer
        self.on_datasets: Any = None

    # --- API -------------------------------------------------------------------------

    def live_generation(self, project_id: int) -> int | None:
        """The generation of the project's kernel if one is up (its results are live)."""
        handle = self.kernels.handle(project_id)
        if handle is None or handle.died.is_set():
            return None
        return handle.generation

    def reserve(self, project_id: int) -> Ticket:
        """A place in the project's queue, taken when the request arrives."""
        return self.queues.reserve(project_id)

    def abandon(self, ticket: Ticket) -> None:
        """Give a place back (the request failed before its run existed)."""
        self.queues.fill(ticket, None)

    async def submit(
        self,
        actor: Actor,
        project_id: int,
        block_id: int,
        wait: bool,
        ticket: Ticket | None = None,
        parent_id: int | None = None,
        expected: tuple[str, str] | None = None,
        on_end: Callable[[RunOut], None] | None = None,
    ) -> RunOut:
        """Queue a run of the block's current code; with ``wait``, return when it ended.
        ``parent_id``: the pipeline run it belongs to; ``expected``: a (source,
        fingerprint) the caller computed, used if the block still has that source;
        ``on_end`` (with ``wait``): called with the ended run once all it produced is
        stored (outputs, datasets), before this coroutine resumes (a request answers
        there, one task switch sooner)."""
        ticket = ticket or self.queues.reserve(project_id)
        try:
            job = await self._create_run(actor, project_id, block_id, ticket, parent_id)
        except BaseException:
            self.abandon(ticket)
            raise
        out = job.run
        job.expected = expected
        self._jobs[out.id] = job
        done = self._done[out.id] = asyncio.Event()
        if wait:
            self._waiting.add(out.id)
            if on_end is not None:
                self._on_end[out.id] = on_end
        pipeline = out.parent_id
        self.events.status(out.project_id, out.id, out.block_id, "queued", pipeline_id=pipeline)
        if job.sent is not None:
            self.events.status(
                out.project_id, out.id, out.block_id, "running", pipeline_id=pipeline
            )
        self.queues.fill(ticket, out.id)
        if not wait:
            return out
        try:
            await done.wait()
        finally:
            self._waiting.discard(out.id)
            self._on_end.pop(out.id, None)
        result = self._results.pop(out.id, None)
        return result if result is not None else await self._run_out(out.id)

    async def _create_run(
        self,
        actor: Actor,
        project_id: int,
        block_id: int,
        ticket: Ticket | None,
        parent_id: int | None = None,
        running: bool = False,
    ) -> Job:
        """Check the caller and the block and insert the run in one transaction.

        When nothing is ahead of the run and the kernel is ready, the code goes to the
        kernel before the insert (the run is recorded as running), so the kernel works
        while the row is written: a run with a queue or a kernel to start is recorded
        as queued and sent by the worker.
        """
        now = utcnow()
        sent: runner.Sent | None = None
        try:
            async with self.db.connection() as conn:
                ids = {"block_id": block_id, "project_id": project_id, "user_id": actor.id}
                row = (await conn.execute(sql.BLOCK_FOR_RUN, ids)).first()
                role = (row.role or ("owner" if actor.is_admin else None)) if row else None
                if row is not None and role is not None:
                    require(role, "editor", "running blocks")
                    if row.kind != "code":
                        raise BadRequest(
                            f"block {block_id} is a {row.kind} block; only code blocks run",
                            details={"block_id": block_id, "kind": row.kind},
                        )
                    values = {
                        "project_id": project_id,
                        "block_id": block_id,
                        "user_id": actor.id,
                        "status": "queued",
                        "source": row.source,
                        "block_version": row.version,
                        "timeout_seconds": row.timeout_seconds or self.default_timeout,
                        "outputs": [],
                        "message": "",
                        "queued_at": now,
                    }
                    if parent_id is not None:
                        values["parent_id"] = parent_id
                    if running:  # executed by the caller (a pipeline batch)
                        values |= {"status": "running", "started_at": now}
                    elif ticket is not None:
                        sent = self._send_now(project_id, ticket, row.source)
                    if sent is not None:
                        values |= {
                            "status": "running",
                            "started_at": now,
                            "kernel_generation": sent.generation,
                        }
                    run_id = (await conn.execute(sql.INSERT_RUN, values)).scalar_one()
        except BaseException:
            if sent is not None:  # no record of the code: stop it
                sent.close()
                await self.kernels.interrupt(project_id)
            raise
        if row is None or role is None:
            async with self.db.session() as session:  # the precise 404
                await authorize(session, actor, project_id, "viewer", "running blocks")
                await get_block(session, project_id, block_id)
            raise NotFound(f"block {block_id} not found in project {project_id}")
        out = RunOut(
            id=run_id,
            execution_count=None,
            error=None,
            finished_at=None,
            **({"kernel_generation": None, "started_at": None} | values),  # type: ignore[arg-type]
        )
        return Job(out, row.name, working_dir_for(project_id, row.working_dir), sent)

    def _send_now(self, project_id: int, ticket: Ticket, source: str) -> runner.Sent | None:
        """Send the code at once if the worker would do nothing else first: the ticket is
        next, no run is executing and the kernel is ready."""
        if not self.queues.is_next(ticket):
            return None
        handle = self.kernels.ready(project_id)
        return runner.send(handle, source) if handle is not None else None

    async def get(self, actor: Actor, project_id: int, run_id: int) -> RunOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading runs")
            return RunOut.model_validate(await _project_run(session, project_id, run_id))

    async def list(
        self,
        actor: Actor,
        project_id: int,
        limit: int,
        offset: int,
        block_id: int | None = None,
        status: str | None = None,
        kind: str | None = None,
    ) -> Page[RunOut]:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading runs")
            query = select(Run).where(Run.project_id == project_id)
            if block_id is not None:
                query = query.where(Run.block_id == block_id)
            if status is not None:
                query = query.where(Run.status == status)
            if kind is not None:
                query = query.where(Run.kind == kind)
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = list(
                await session.scalars(query.order_by(Run.id.desc()).limit(limit).offset(offset))
            )
            # Who ran what (the run history shows it): one query for the page's users.
            user_ids = {r.user_id for r in rows if r.user_id is not None}
            users = await session.execute(
                select(User.id, User.username).where(User.id.in_(user_ids))
            )
            names: dict[int, str] = {uid: name for uid, name in users}
            items = [
                RunOut.model_validate(r).model_copy(update={"username": names.get(r.user_id)})
                for r in rows
            ]
            return Page[RunOut](items=items, total=total or 0, limit=limit, offset=offset)

    async def cancel(self, actor: Actor, project_id: int, run_id: int) -> RunOut:
        """Cancel a queued run at once, or interrupt a running one."""
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "cancelling runs")
            run = await _project_run(session, project_id, run_id)
            if run.status in RUN_FINAL:
                raise Conflict(
                    f"run {run_id} already ended ({run.status})",
                    details={"current": RunOut.model_validate(run).model_dump(mode="json")},
                )
        await self.stop_run(project_id, run_id)
        return await self._run_out(run_id)

    async def stop_run(self, project_id: int, run_id: int) -> None:
        """Cancel a queued block run, or interrupt it if it runs (no role check: callers
        have made theirs)."""
        job = self._jobs.get(run_id)
        if job is not None and job.sent is not None:  # in the kernel already: interrupt it
            self._cancel.setdefault(run_id, asyncio.Event()).set()
        elif self._take_out(project_id, run_id):
            await self._cancel_unstarted(run_id, "cancelled before it started")
        elif run_id in self._cancel:
            self._cancel[run_id].set()

    async def cancel_queued(self, project_id: int, why: str) -> None:
        """Cancel every run of the project still waiting in its queue (not the running one)."""
        # All out of the queue before any await: the worker must not start one meanwhile.
        doomed = [rid for rid in self.queues.queued(project_id) if self._take_out(project_id, rid)]
        for run_id in doomed:
            await self._cancel_unstarted(run_id, why)

    def _take_out(self, project_id: int, run_id: int) -> bool:
        """Take a run that waits in the queue out of it; False if it is not waiting (or
        its code went to the kernel already)."""
        job = self._jobs.get(run_id)
        if job is not None and job.sent is not None:
            return False
        if not self.queues.remove(project_id, run_id):
            return False
        self._jobs.pop(run_id, None)
        return True

    async def _cancel_unstarted(self, run_id: int, why: str) -> None:
        await self._finish(run_id, "cancelled", message=why)
        self._release(run_id)

    async def exclusive(
        self,
        project_id: int,
        name: str,
        cwd: str,
        job: Callable[[KernelHandle], Awaitable[T]],
    ) -> T:
        """Run ``job`` with the project's kernel (started if needed) to itself, in queue
        order with the project's runs."""
        ticket = self.queues.reserve(project_id)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        async def work() -> None:
            try:
                handle = await self.kernels.ensure(project_id, name, cwd)
                result = await job(handle)
            except asyncio.CancelledError:
                future.cancel()
                raise
            except BaseException as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

        self.queues.fill_job(ticket, work)
        return await future

    async def open_run(
        self, actor: Actor, project_id: int, block_id: int, parent_id: int
    ) -> RunOut:
        """A block run, recorded as running, that the caller executes itself."""
        job = await self._create_run(actor, project_id, block_id, None, parent_id, running=True)
        self.events.status(project_id, job.run.id, block_id, "running", pipeline_id=parent_id)
        return job.run

    async def close_run(
        self,
        run: RunOut,
        status: str,
        outputs: list[dict[str, Any]],
        *,
        error: dict[str, Any] | None = None,
        message: str = "",
        generation: int | None = None,
    ) -> None:
        """End a run opened with ``open_run``: outputs stored as any run's are."""
        outputs, stored = await self.ending.outputs(outputs)
        fingerprint = await self.ending.fingerprint(run.project_id, run)
        await self._finish(
            run.id,
            status,
            outputs=outputs,
            error=error,
            message=message,
            artifacts=stored,
            generation=generation,
            known=run,
            fingerprint=fingerprint,
        )

    async def result(self, run_id: int) -> RunOut:
        """Wait until a submitted run has ended; the run as it ended."""
        done = self._done.get(run_id)
        if done is not None:
            self._waiting.add(run_id)
            try:
                await done.wait()
            finally:
                self._waiting.discard(run_id)
        found = self._results.pop(run_id, None)
        return found if found is not None else await self._run_out(run_id)

    async def stop(self) -> None:
        """Server shutdown: stop the queues, record unfinished runs, stop kernels."""
        pending = await self.queues.close()
        self._jobs.clear()
        for task in list(self._tasks):
            task.cancel()
        for run_id in pending:
            try:
                await self._finish(run_id, "interrupted", message=INTERRUPTED)
            except Exception:  # keep going: the next start's recovery marks it anyway
                log.exception("ai_notebook_ext: recording run %s as interrupted", run_id)
        for run_id in list(self._done):
            self._release(run_id)  # waiting requests answer with the run as it stands
        await self.kernels.shutdown_all()

    # --- worker ----------------------------------------------------------------------

    async def _process(self, project_id: int, run_id: int) -> None:
        """Execute one run; whatever goes wrong, the run ends with a final status."""
        cancel = self._cancel.setdefault(run_id, asyncio.Event())
        try:
            job = self._jobs.pop(run_id, None)
            if job is not None:
                await self._execute(project_id, run_id, job, cancel)
        except Exception as exc:
            log.exception("ai_notebook_ext: run %s failed inside the server", run_id)
            await self._fail_internal(run_id, exc)
        finally:
            self._cancel.pop(run_id, None)
            self._release(run_id)

    async def _fail_internal(self, run_id: int, exc: Exception) -> None:
        final = await self.ending.record_failure(run_id, exc)
        if final is not None and run_id in self._waiting:
            self._results[run_id] = final

    async def _execute(self, project_id: int, run_id: int, job: Job, cancel: asyncio.Event) -> None:
        """Start the kernel if needed, run the code, store what came out."""
        run = job.run
        started = utcnow()
        if job.sent is not None:
            await self._collect(project_id, run_id, job, cancel, job.sent.handle)
            return
        try:
            handle = await self.kernels.ensure(project_id, job.project_name, job.working_dir)
        except KernelStartError as exc:
            await self._finish(
                run_id,
                "failed",
                message=str(exc),
                error={"ename": "KernelStartError", "evalue": str(exc), "reason": "kernel"},
            )
            return
        generation = handle.generation

        async def mark_running() -> None:
            # Runs while the kernel already works on the request: the write overlaps it.
            async with self.db.connection() as conn:
                params = {"run_id": run_id, "started_at": started, "generation": generation}
                await conn.execute(sql.MARK_RUNNING, params)
            job.run = run.model_copy(update={"started_at": started})
            self.events.status(
                project_id, run_id, run.block_id, "running", pipeline_id=run.parent_id
            )

        await self._collect(project_id, run_id, job, cancel, handle, mark_running)

    async def _collect(
        self,
        project_id: int,
        run_id: int,
        job: Job,
        cancel: asyncio.Event,
        handle: KernelHandle,
        on_sent: runner.OnSent | None = None,
    ) -> None:
        """Send the code unless it was sent already, wait for its end, store what came out."""
        run = job.run
        generation = job.sent.generation if job.sent is not None else handle.generation
        emitter = self.events.outputs(run)
        # Computed while the kernel works (the task runs at the runner's first wait).
        fingerprint = asyncio.ensure_future(self.ending.fingerprint(project_id, run, job.expected))
        try:
            result = await runner.execute(
                self.kernels,
                handle,
                run.source,
                time_limit=run.timeout_seconds,
                cancel=cancel,
                on_output=emitter.update,
                on_sent=on_sent,
                sent=job.sent,
            )
        finally:
            emitter.close()
        outputs, stored = await self.ending.outputs(result.outputs)
        await self._finish(
            run_id,
            result.status,
            outputs=outputs,
            error=result.error,
            message=result.message,
            execution_count=result.execution_count,
            artifacts=stored,
            generation=generation,
            known=job.run,
            fingerprint=await fingerprint,
        )
        if result.datasets:
            await self._datasets(job.run, result.datasets)
        if result.kernel_died:
            task = asyncio.ensure_future(
                self._revive(project_id, job.project_name, job.working_dir)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _datasets(self, run: RunOut, reports: list[dict[str, Any]]) -> None:
        """Hand what ``ain`` read and wrote to the datasets layer (lineage, versions)."""
        if self.on_datasets is None:
            return
        try:
            await self.on_datasets(run, reports)
        except Exception:
            log.exception("ai_notebook_ext: recording the datasets of run %s", run.id)

    async def _revive(self, project_id: int, name: str, cwd: str) -> None:
        """Bring a crashed project kernel back right away, not at the next run."""
        try:
            await self.kernels.ensure(project_id, name, cwd)
        except Exception:
            log.exception("ai_notebook_ext: restarting the kernel of project %s", project_id)

    async def _finish(self, run_id: int, status: str, **end: Any) -> None:
        """Record the end of a run (see RunEnding.record); a waiting request gets it."""
        final = await self.ending.record(run_id, status, **end)
        if final is not None and run_id in self._waiting:
            self._results[run_id] = final

    def _release(self, run_id: int) -> None:
        """Everything the run produced is recorded: answer whoever waits for it."""
        on_end = self._on_end.pop(run_id, None)
        result = self._results.get(run_id)
        if on_end is not None and result is not None:
            try:
                on_end(result)
            except Exception:  # the caller's problem: the run has ended all the same
                log.exception("ai_notebook_ext: reporting the end of run %s", run_id)
        done = self._done.pop(run_id, None)
        if done is not None:
            done.set()

    async def _run_out(self, run_id: int) -> RunOut:
        async with self.db.session() as session:
            run = await session.get(Run, run_id)
            if run is None:
                raise NotFound(f"run {run_id} not found")
            return RunOut.model_validate(run)
