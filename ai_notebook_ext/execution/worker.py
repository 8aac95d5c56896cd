"""The queue's work on one LiveRun: start the kernel if needed, send the code unless it
was sent already, collect what comes out, and hand the end to the ending step.

Whatever goes wrong, the run ends with a final status (``failed`` with reason
``internal`` when the server itself failed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .. import logs
from . import runner
from .ending import RunEnding
from .kernel_handle import KernelHandle, KernelStartError
from .kernels import ProjectKernels
from .live import LiveRun
from .outputs import OutputCollector
from .progress import RunEvents
from .records import RunRecords

log = logging.getLogger(__name__)


async def _ignore(_collector: OutputCollector) -> None:
    return None


class RunWorker:
    """Executes the LiveRuns the project queues hand it, one at a time per project."""

    def __init__(
        self,
        kernels: ProjectKernels,
        records: RunRecords,
        ending: RunEnding,
        events: RunEvents,
    ) -> None:
        self.kernels = kernels
        self.records = records
        self.ending = ending
        self.events = events
        self._tasks: set[asyncio.Future[None]] = set()
        # async (live): a run failed in the kernel, an interrupt's KeyboardInterrupt
        # included (RunService aborts the block runs queued behind it, as Jupyter's
        # stop_on_error does; a run cancelled on its own through the API does not)
        self.on_stopped: Callable[[LiveRun], Awaitable[None]] | None = None

    async def process(self, live: LiveRun) -> None:
        """Work one run to its end (the queue's callback)."""
        ids = logs.bind(run_id=live.id, project_id=live.project_id, request_id=live.request_id)
        try:
            if live.withdrawn:
                await self._drain(live)
            else:
                await self._execute(live)
        except Exception as exc:
            log.exception("ai_notebook_ext: run %s failed inside the server", live.id)
            await self.ending.fail(live, exc)
        finally:
            live.end(None)  # a no-op once the ending step ended it
            logs.unbind(ids)

    async def _execute(self, live: LiveRun) -> None:
        """Start the kernel if needed, run the code, end the run with what came out."""
        if live.sent is not None:  # sent before its row (see fastpath.py)
            await self._collect(live, live.sent.handle)
            return
        run = live.run
        assert run is not None
        try:
            handle = await self.kernels.ensure(live.project_id, live.project_name, live.working_dir)
        except KernelStartError as exc:
            error = {"ename": "KernelStartError", "evalue": str(exc), "reason": "kernel"}
            await self.ending.end(live, "failed", message=str(exc), error=error)
            return
        generation = handle.generation

        async def mark_running() -> None:
            # Runs while the kernel already works on the request: the write overlaps it.
            live.run = await self.records.mark_running(run, generation)
            self.events.status(
                run.project_id, run.id, run.block_id, "running", pipeline_id=run.parent_id
            )

        await self._collect(live, handle, mark_running)

    async def _collect(
        self, live: LiveRun, handle: KernelHandle, on_sent: runner.OnSent | None = None
    ) -> None:
        """Wait for the run's end in the kernel (sending the code first unless it was
        sent), then end it."""
        run = live.run
        assert run is not None
        generation = live.sent.generation if live.sent is not None else handle.generation
        emitter = self.events.outputs(run)
        # Computed while the kernel works (the task runs at the runner's first wait).
        fingerprint = asyncio.ensure_future(
            self.ending.fingerprint(run.project_id, run, live.expected)
        )

        async def execute(
            sent: runner.Sent | None, on_sent: runner.OnSent | None
        ) -> runner.ExecResult:
            return await runner.execute(
                self.kernels,
                handle,
                run.source,
                time_limit=run.timeout_seconds,
                cancel=live.cancel,
                on_output=emitter.update,
                on_sent=on_sent,
                sent=sent,
            )

        try:
            result = await execute(live.sent, on_sent)
            if result.status == "aborted" and live.source is not None:
                # Sent ahead, and the kernel aborted it although the request before it
                # ended well (another client's request failed in between): send it again.
                live.sent = None
                result = await execute(None, None)
        finally:
            emitter.close()
        status = "cancelled" if result.status == "aborted" else result.status
        await self.ending.end(
            live,
            status,
            outputs=result.outputs,
            error=result.error,
            message=result.message,
            execution_count=result.execution_count,
            generation=generation,
            fingerprint=await fingerprint,
            datasets=result.datasets,
        )
        if status == "failed" and self.on_stopped is not None:
            await self.on_stopped(live)
        if result.kernel_died:
            self._revive(live)

    async def _drain(self, live: LiveRun) -> None:
        """A request sent ahead and withdrawn (the block before it did not succeed): the
        kernel aborts it; wait for that, so the kernel is past it before the next run.
        Should it begin anyway (a kernel without our extension), it is interrupted."""
        sent = live.sent
        if sent is None:
            return
        live.cancel.set()  # interrupts it as soon as it begins, if it ever does
        result = await runner.execute(
            self.kernels,
            sent.handle,
            live.source or "",
            time_limit=None,
            cancel=live.cancel,
            on_output=_ignore,
            sent=sent,
        )
        if result.execution_count is not None:
            log.warning(
                "ai_notebook_ext: a request sent ahead in project %s began although the one "
                "before it failed (the kernel lacks ai_notebook_ext.kernel); interrupted",
                live.project_id,
            )

    def _revive(self, live: LiveRun) -> None:
        """Bring a crashed project kernel back right away, not at the next run."""

        async def revive() -> None:
            try:
                await self.kernels.ensure(live.project_id, live.project_name, live.working_dir)
            except Exception:
                log.exception("ai_notebook_ext: restarting the kernel of %s", live.project_id)

        task = asyncio.ensure_future(revive())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        """Server shutdown: no more revivals."""
        for task in list(self._tasks):
            task.cancel()
