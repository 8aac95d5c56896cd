"""The one seam where the execute hot path departs from the plain path.

Plain path (records.py, worker.py): the run's row is written ``queued``; the worker
starts the kernel if needed, sends the code, marks the run ``running`` and collects the
results. Shortcuts, all here or named here:

- **send now**: when the run is next in its queue, no run of the project executes and
  the kernel is ready, the code goes to the kernel inside the row's transaction, just
  before the INSERT, and the run is written ``running``: the kernel works while the row
  is written. If the insert fails, the code is interrupted.
- **send ahead** (sequential pipelines): the next block's ``execute_request`` is queued
  in the kernel while the current one runs, chained to it (``runner.send(after=...)``,
  ``kernel/chain.py``): the kernel aborts it unless the current one succeeded. Its row
  is written only once the current block succeeded; otherwise it is withdrawn and never
  recorded.
- SQL: ``statements.py`` (Core statements compiled once, run on SQLite's cursor by
  ``store/fast.py``) and ``store/inline.py`` (SQLite transactions inline on the loop).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import runner
from .kernels import ProjectKernels
from .live import LiveRun
from .queue import ProjectQueues


class FastPath:
    """Sends code before its run's row exists, when nothing else would come first."""

    def __init__(self, queues: ProjectQueues, kernels: ProjectKernels) -> None:
        self.queues = queues
        self.kernels = kernels

    def before_insert(self, live: LiveRun, source: str, now: datetime) -> dict[str, Any]:
        """Row values for a run about to be inserted: ``running`` if its code is in the
        kernel already (sent ahead) or goes there now (no await: inside the transaction)."""
        if live.sent is None:
            live.sent = self._send_now(live, source)
        if live.sent is None:
            return {}
        values: dict[str, Any] = {
            "status": "running",
            "started_at": now,
            "kernel_generation": live.sent.generation,
        }
        if live.source is not None:  # sent ahead: the row keeps the code that was sent
            values["source"] = live.source
        return values

    def _send_now(self, live: LiveRun, source: str) -> runner.Sent | None:
        if not self.queues.is_next(live.ticket):
            return None
        handle = self.kernels.ready(live.project_id)
        return runner.send(handle, source) if handle is not None else None

    async def unsend(self, live: LiveRun) -> None:
        """The row could not be written: code sent now is interrupted (it runs alone).
        Code sent ahead is left to the caller, who withdraws it."""
        if live.sent is None or live.source is not None:
            return
        sent, live.sent = live.sent, None
        sent.close()
        await self.kernels.interrupt(live.project_id)

    def send_ahead(self, live: LiveRun, source: str, after: runner.Sent) -> bool:
        """Queue ``source`` in the kernel behind ``after`` (still the kernel's current
        generation), chained to it; False if the kernel is not ready for it."""
        handle = self.kernels.ready(live.project_id)
        if handle is None or handle is not after.handle or handle.generation != after.generation:
            return False
        live.sent = runner.send(handle, source, after=after.msg_id)
        live.source = source
        return True
