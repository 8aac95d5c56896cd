"""Runs of blocks: reserve, submit, wait, cancel; runs pipelines open and close.

A block run is a LiveRun (live.py) from its request's arrival to its end: reserved in the
project's queue at once (``reserve``), written and handed to the queue (``submit``,
records.py), worked by the queue (worker.py), ended once (ending.py). Callers await its
end with ``outcome``. The fast paths are behind one seam, fastpath.py.

Role rules: viewers read runs, kernel state and artifacts; editors run, cancel and control
the kernel. Every status change is persisted first, then announced as an event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Conflict
from ..events import Events
from ..projects.access import authorize
from ..projects.schemas import Page
from ..projects.users import Actor
from ..store import Database
from ..store.models import RUN_FINAL
from .artifacts import ArtifactStore
from .control import KernelControl
from .ending import RunEnding
from .fastpath import FastPath
from .held import HeldKernel
from .kernel_handle import KernelHandle
from .kernels import ProjectKernels
from .live import LiveRun
from .progress import RunEvents
from .queue import ProjectQueues
from .records import RunRecords, project_run
from .recovery import INTERRUPTED
from .schemas import RunOut
from .spares import SparePool
from .worker import RunWorker

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        spare_kernels: int = 0,
        server_id: str | None = None,
        leases: Any = None,
    ) -> None:
        self.db = db
        self.events = RunEvents(events, output_events)
        self.kernels = ProjectKernels(serverapp, db, kernel_name, self.events.kernel)
        self.kernels.spares = SparePool(self.kernels, spare_kernels)
        self.artifacts = ArtifactStore(artifact_dir)
        self.ending = RunEnding(db, self.artifacts, self.events, text_limit)
        self.text_limit = text_limit
        self.default_timeout = default_timeout
        self.server_id = server_id  # this server (servers/registry.py), on its runs' rows
        self.queues = ProjectQueues(self._process, leases)
        self.fast = FastPath(self.queues, self.kernels)
        self.records = RunRecords(db, self.fast, default_timeout, server_id)
        self.worker = RunWorker(self.kernels, self.records, self.ending, self.events)
        self.worker.on_stopped = self._stopped_part_way
        self.control = KernelControl(
            db, self.kernels, self.queues, self.artifacts, self.cancel_queued
        )
        self.held = HeldKernel(self.queues, self.kernels, self.records, self.ending, self.events)
        self._live: dict[int, LiveRun] = {}  # submitted runs that have not ended, by id
        self._warming: set[asyncio.Future[None]] = set()

    @property
    def on_datasets(self) -> Any:
        """async (run, reports): what ain read and wrote in a run (the datasets layer)."""
        return self.ending.on_datasets

    @on_datasets.setter
    def on_datasets(self, value: Any) -> None:
        self.ending.on_datasets = value

    def live_generation(self, project_id: int) -> int | None:
        """The generation of the project's kernel if one is up (its results are live)."""
        handle = self.kernels.handle(project_id)
        if handle is None or handle.died.is_set():
            return None
        return handle.generation

    def widget_metadata(self, project_id: int) -> dict[str, Any] | None:
        """``metadata.widgets`` of the project's live kernel (widgets.py), if any."""
        handle = self.kernels.handle(project_id)
        if handle is None or handle.died.is_set():
            return None
        return handle.widgets.notebook_metadata()

    def start_spares(self) -> None:
        """Begin keeping spare kernels (the server is up)."""
        if self.kernels.spares is not None:
            self.kernels.spares.start()

    def warm_up(self, project_id: int, name: str, cwd: str) -> None:
        """Start the project's kernel in the background (runs wait for it; a failure is
        theirs to report, so it is only logged here)."""

        async def start() -> None:
            try:
                await self.kernels.ensure(project_id, name, cwd)
            except Exception as exc:
                log.info("ai_notebook_ext: early kernel start of %s: %s", project_id, exc)

        task = asyncio.ensure_future(start())
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

    # --- a run's life ------------------------------------------------------------------

    def reserve(self, project_id: int) -> LiveRun:
        """A run's place in the project's queue, taken when the request arrives (no await
        before it, so runs keep arrival order)."""
        return LiveRun(self.queues.reserve(project_id))

    def abandon(self, live: LiveRun) -> None:
        """Give a place back (the request failed before its run existed)."""
        if not live.ticket.ready.is_set():
            self.queues.fill(live.ticket, None)

    async def submit(
        self,
        live: LiveRun,
        actor: Actor,
        block_id: int,
        parent_id: int | None = None,
        expected: tuple[str, str] | None = None,
    ) -> RunOut:
        """Write the run of the block's current code and hand it to its queue; the run as
        written (queued, or running if its code is in the kernel already).
        ``parent_id``: the pipeline run it belongs to; ``expected``: a (source,
        fingerprint) the caller computed, used if the run has that source."""
        live.expected = expected
        try:
            run = await self.records.create(live, actor, block_id, parent_id)
        except BaseException:
            if live.source is not None:  # its code is in the kernel already
                self.withdraw(live)
            else:
                self.abandon(live)
            raise
        self._live[run.id] = live
        live.ended.add_done_callback(lambda _: self._live.pop(run.id, None))
        self.events.status(run.project_id, run.id, block_id, "queued", pipeline_id=parent_id)
        if live.sent is not None:
            self.events.status(run.project_id, run.id, block_id, "running", pipeline_id=parent_id)
        self.queues.fill(live.ticket, live)
        return run

    async def outcome(
        self, live: LiveRun, answer: Callable[[RunOut], None] | None = None
    ) -> RunOut:
        """Wait until a submitted run has ended; the run as it ended. ``answer`` is called
        with it once, as soon as it is known (from the ending step when it can)."""
        if answer is not None:
            live.listeners.append(answer)
        final = await asyncio.shield(live.ended)
        if final is None:
            assert live.run is not None
            final = await self.records.read(live.run.id)
            if answer is not None:
                answer(final)
        return final

    async def send_ahead(self, live: LiveRun, actor: Actor, block_id: int, after: LiveRun) -> bool:
        """Queue the block's code in the kernel behind ``after`` while it runs (a reserved
        run, next after it); the kernel aborts it unless ``after`` succeeds. Submit it
        once ``after`` succeeded, else ``withdraw`` it. False: not sent (the kernel is not
        ready, or ``after`` is not in it); submit it as usual."""
        if after.sent is None:
            return False
        source = await self.records.snapshot(actor, live.project_id, block_id)
        return self.fast.send_ahead(live, source, after.sent)

    def withdraw(self, live: LiveRun) -> None:
        """A reserved run not wanted any more: its place is given back; code it sent
        ahead is drained from the kernel in queue order and never recorded."""
        if live.ticket.ready.is_set():
            return
        if live.sent is None:
            self.queues.fill(live.ticket, None)
            return
        live.withdrawn = True
        self.queues.fill(live.ticket, live)

    # --- reading -----------------------------------------------------------------------

    async def get(self, actor: Actor, project_id: int, run_id: int) -> RunOut:
        return await self.records.get(actor, project_id, run_id)

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
        return await self.records.list(actor, project_id, limit, offset, block_id, status, kind)

    # --- stopping ----------------------------------------------------------------------

    async def cancel(self, actor: Actor, project_id: int, run_id: int) -> RunOut:
        """Cancel a queued run at once, or interrupt a running one."""
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "cancelling runs")
            run = await project_run(session, project_id, run_id)
            if run.status in RUN_FINAL:
                raise Conflict(
                    f"run {run_id} already ended ({run.status})",
                    details={"current": RunOut.model_validate(run).model_dump(mode="json")},
                )
        await self.stop_run(project_id, run_id)
        return await self.records.read(run_id)

    async def stop_run(self, project_id: int, run_id: int) -> None:
        """Cancel a queued block run, or interrupt it if it runs (no role check: callers
        have made theirs)."""
        live = self._live.get(run_id)
        if live is None:
            return
        if live.sent is None and self.queues.remove(project_id, run_id):
            await self.ending.end(live, "cancelled", message="cancelled before it started")
        else:  # in the kernel already, or being started: the runner interrupts it
            live.cancel.set()

    async def cancel_queued(
        self,
        project_id: int,
        why: str,
        block_id: int | None = None,
        standalone: bool = False,
    ) -> None:
        """Cancel every run of the project still waiting in its queue (not the running
        one); ``block_id``: only that block's; ``standalone``: only block runs of no
        pipeline (a pipeline decides for its own)."""
        # All out of the queue before any await: the worker must not start one meanwhile.
        doomed = []
        for run_id in self.queues.queued(project_id):
            live = self._live.get(run_id)
            if live is None or live.sent is not None:
                continue
            if block_id is not None and (live.run is None or live.run.block_id != block_id):
                continue
            if standalone and (live.run is None or live.run.parent_id is not None):
                continue
            if self.queues.remove(project_id, run_id):
                doomed.append(live)
        for live in doomed:
            await self.ending.end(live, "cancelled", message=why)

    async def _stopped_part_way(self, live: LiveRun) -> None:
        """A run failed in the kernel (an interrupt's KeyboardInterrupt included): the
        block runs queued behind it are cancelled, as Jupyter's ``stop_on_error`` aborts
        the cells queued after an error (what they would read may be missing or half
        made)."""
        run = live.run
        if run is None:
            return
        why = f"cancelled: block {run.block_id} before it failed (run {run.id})"
        await self.cancel_queued(run.project_id, why, standalone=True)

    async def block_deleted(self, project_id: int, block_id: int) -> None:
        """A deleted block's queued runs never run: the user removed that code. A run of
        it already in the kernel goes on (as a deleted cell's execution in JupyterLab)."""
        await self.cancel_queued(project_id, "cancelled: its block was deleted", block_id)

    async def stop(self) -> None:
        """Server shutdown: stop the queues, record unfinished runs, stop kernels."""
        pending = await self.queues.close()
        self.worker.stop()
        for task in list(self._warming):
            task.cancel()
        for live in pending:
            if live.run is None or live.withdrawn:
                continue
            try:
                await self.ending.end(live, "interrupted", message=INTERRUPTED)
            except Exception:  # keep going: the next start's recovery marks it anyway
                log.exception("ai_notebook_ext: recording run %s as interrupted", live.id)
        for live in list(self._live.values()):
            live.end(None)  # waiting requests answer with the run as it stands
        await self.kernels.shutdown_all()

    # --- the kernel to itself, and runs executed by their caller (held.py) ------------

    async def exclusive(
        self, project_id: int, name: str, cwd: str, job: Callable[[KernelHandle], Awaitable[T]]
    ) -> T:
        return await self.held.exclusive(project_id, name, cwd, job)

    async def open_run(
        self,
        actor: Actor,
        project_id: int,
        block_id: int,
        parent_id: int,
        source: str | None = None,
    ) -> RunOut:
        return await self.held.open_run(actor, project_id, block_id, parent_id, source)

    async def block_code(self, actor: Actor, project_id: int, block_id: int) -> tuple[str, float]:
        """A block's current code and time limit, for a caller that may run it."""
        return await self.records.code(actor, project_id, block_id)

    async def close_run(self, run: RunOut, status: str, outputs: Any, **end: Any) -> None:
        await self.held.close_run(run, status, outputs, **end)

    async def _process(self, live: LiveRun) -> None:
        await self.worker.process(live)
