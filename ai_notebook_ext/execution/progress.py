"""Events about runs and kernels: status changes, and coalesced outputs of running blocks."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..events import KERNEL_STATUS, RUN_OUTPUT, RUN_STATUS, Events
from .outputs import OutputCollector, without_binary

if TYPE_CHECKING:
    from .displays import DisplayRegistry

EVENT_TEXT_CAP = 16_384
EVENT_MAX_OUTPUTS = 50
EVENT_INTERVAL = 0.1


class OutputEvents:
    """Coalesces output events of one run: at most one every EVENT_INTERVAL seconds, the
    first at once (a short block's output shows as soon as the kernel sends it).

    They always go to the project's members (when someone has the project open); on the
    global bus only when ``enabled`` (``event_outputs``).
    """

    def __init__(
        self,
        events: Events,
        run: Any,
        enabled: bool = True,
        displays: DisplayRegistry | None = None,
    ) -> None:
        self.events = events
        self.enabled = enabled
        self.displays = displays  # sees every change: display ids, updates of other runs
        self.project_id, self.run_id, self.block_id = run.project_id, run.id, run.block_id
        self.seq = 0
        self.pending: OutputCollector | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.last = float("-inf")  # loop time of the last event sent

    async def update(self, collector: OutputCollector) -> None:
        if self.displays is not None:
            self.displays.observe(self, collector)
        if not self.enabled and not self.events.listening(self.project_id):
            return
        self.pending = collector  # read at most once per interval, not per message
        if self.timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self.last + EVENT_INTERVAL - loop.time()
        if wait <= 0:
            self.flush()
        else:
            self.timer = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        self.timer = None
        if self.pending is None:
            return
        self.last = asyncio.get_running_loop().time()
        latest = self.pending.outputs[-EVENT_MAX_OUTPUTS:]
        outputs, omitted = without_binary(latest, EVENT_TEXT_CAP)
        self.pending = None
        self.seq += 1
        self.events.emit(
            RUN_OUTPUT,
            {
                "project_id": self.project_id,
                "run_id": self.run_id,
                "block_id": self.block_id,
                "seq": self.seq,
                "outputs": outputs,
                "omitted_bytes": omitted,
            },
            members_only=not self.enabled,
        )

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.flush()


class RunEvents:
    """The events a RunService sends.

    ``private_outputs``: the server's event bus reaches only the project's users (single-user
    mode, or configured so): outputs and error values may go out.
    """

    def __init__(self, events: Events, private_outputs: bool) -> None:
        self.events = events
        self.private_outputs = private_outputs
        self.displays: DisplayRegistry | None = None  # set by RunEnding, which owns it

    def outputs(self, run: Any) -> OutputEvents:
        return OutputEvents(self.events, run, self.private_outputs, self.displays)

    def status(
        self,
        project_id: int,
        run_id: int,
        block_id: int | None,
        status: str,
        execution_count: int | None = None,
        message: str = "",
        error: dict[str, Any] | None = None,
        pipeline_id: int | None = None,
        kind: str = "block",
    ) -> None:
        """A run's new status; members also get the whole message, the run's ``kind``
        (block or pipeline) and, for a block run of a pipeline, ``pipeline_id``."""
        members: dict[str, Any] = {"message": message[:500], "kind": kind}
        if pipeline_id is not None:
            members["pipeline_id"] = pipeline_id
        if not self.private_outputs and error is not None and error.get("reason") == "error":
            message = str(error.get("ename", "error"))  # the value is the program's text
        self.events.emit(
            RUN_STATUS,
            {
                "project_id": project_id,
                "run_id": run_id,
                "block_id": block_id,
                "status": status,
                "execution_count": execution_count,
                "message": message[:500],
            },
            members=members,
        )

    async def kernel(self, project_id: int, state: str, generation: int, reason: str) -> None:
        self.events.emit(
            KERNEL_STATUS,
            {"project_id": project_id, "state": state, "generation": generation, "reason": reason},
        )
