"""Work that holds the project's kernel outside the block-run path: jobs with the kernel
to itself in queue order (a pipeline's batch, the agent's variable listing), and block
runs their caller executes itself (a batch's blocks): opened ``running``, closed with
their outputs like any run's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..projects.users import Actor
from .ending import RunEnding
from .kernel_handle import KernelHandle
from .kernels import ProjectKernels
from .live import LiveRun
from .progress import RunEvents
from .queue import ProjectQueues, Ticket
from .records import RunRecords
from .schemas import RunOut

T = TypeVar("T")


class HeldKernel:
    """Exclusive kernel jobs and caller-executed runs, for the RunService."""

    def __init__(
        self,
        queues: ProjectQueues,
        kernels: ProjectKernels,
        records: RunRecords,
        ending: RunEnding,
        events: RunEvents,
    ) -> None:
        self.queues = queues
        self.kernels = kernels
        self.records = records
        self.ending = ending
        self.events = events

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
        self, actor: Actor, project_id: int, block_id: int, parent_id: int, source: str | None
    ) -> RunOut:
        """A block run, recorded as running, that the caller executes itself (it has no
        place in the queue: the caller holds the kernel). ``source``: the code the caller
        runs, if not the block's current code."""
        live = LiveRun(Ticket(project_id))
        live.source = source
        run = await self.records.create(live, actor, block_id, parent_id, running=True)
        self.events.status(project_id, run.id, block_id, "running", pipeline_id=parent_id)
        return run

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
        await self.ending.record(
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
