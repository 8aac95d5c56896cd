"""Idle project kernels are shut down after ``AINotebook.kernel_idle_timeout`` seconds.

A project kernel holds memory (often a lot: data frames) for as long as the server runs.
The culler looks at each running project kernel every few seconds to a minute and shuts
down one that is idle (Jupyter's execution state, also moved by other clients such as an
open notebook executing in it), whose last activity is older than the timeout, that has
no run waiting or running in its queue, is not being started, restarted or stopped, and
(unless ``kernel_cull_connected``) has no websocket connection open, like Jupyter's own
culler. The stop is recorded like any kernel stop: the kernel row's reset reason and a
``kernel-status`` event saying "culled after N s idle". The next run starts a new
kernel, whose state is empty (the DAG shows which results are gone). Spare kernels
(spares.py) waiting for longer than the timeout are shut down too.

The checks and the start of the shutdown happen without an await in between, so a run
arriving at the same moment either keeps the kernel or waits for the shutdown and starts
a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from jupyter_core.utils import ensure_async

from ..store.types import utcnow
from .kernels import ProjectKernels
from .queue import ProjectQueues

log = logging.getLogger(__name__)


def check_interval(timeout: float) -> float:
    """Seconds between looks: a quarter of the timeout, within 0.5 s and a minute."""
    return min(60.0, max(0.5, timeout / 4))


class KernelCuller:
    """Shuts down project kernels idle for longer than ``timeout`` seconds (0: never)."""

    def __init__(
        self,
        kernels: ProjectKernels,
        queues: ProjectQueues,
        timeout: float,
        cull_connected: bool = False,
    ) -> None:
        self.kernels = kernels
        self.queues = queues
        self.timeout = timeout
        self.cull_connected = cull_connected
        self._projects: set[int] = set()  # projects whose kernel was seen starting
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def attach(self) -> None:
        """Hear of kernel starts (ProjectKernels' state listener); the culling loop runs
        from the first start on, like Jupyter's own culler."""
        if self.timeout <= 0:
            return
        listener = self.kernels.on_state

        async def on_state(project_id: int, state: str, generation: int, reason: str) -> None:
            if state in ("started", "restarted"):
                self._projects.add(project_id)
                self._start()
            await listener(project_id, state, generation, reason)

        self.kernels.on_state = on_state

    def include_spares(self) -> None:
        """Spare kernels (spares.py) are culled too: the loop runs from the server's start."""
        spares = self.kernels.spares
        if self.timeout > 0 and spares is not None and spares.enabled():
            self._start()

    def _start(self) -> None:
        if self._task is None and not self._stopped:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(check_interval(self.timeout))
            try:
                await self.cull()
            except Exception:  # keep culling later
                log.exception("ai_notebook_ext: culling idle kernels")

    async def cull(self, now: datetime | None = None) -> list[int]:
        """Shut down every project kernel idle past the timeout, and spare kernels
        waiting that long; the projects culled."""
        culled = []
        if self.kernels.spares is not None:
            await self.kernels.spares.cull(self.timeout, now)
        for project_id in sorted(self._projects):
            if self.kernels.handle(project_id) is None:
                self._projects.discard(project_id)
                continue
            connections = await self._connections(project_id)
            idle = self.idle_for(project_id, now or utcnow())
            if idle is None or (connections and not self.cull_connected):
                continue
            # No await from the checks above to the shutdown taking the kernel's lock.
            reason = f"culled after {int(idle)} s idle"
            log.info("ai_notebook_ext: kernel of project %s %s", project_id, reason)
            await self.kernels.shutdown(project_id, reason)
            self._projects.discard(project_id)
            culled.append(project_id)
        return culled

    def idle_for(self, project_id: int, now: datetime) -> float | None:
        """Seconds the project's kernel has been idle if it may be culled now, else None."""
        handle = self.kernels.handle(project_id)
        if handle is None or handle.died.is_set() or self.kernels.settling(project_id):
            return None
        if self.queues.has_work(project_id):
            return None
        live = self.kernels.state(project_id)
        last: Any = live["last_activity"]
        if live["state"] != "idle" or not isinstance(last, datetime):
            return None
        idle = (now - max(last, handle.started_at)).total_seconds()
        return idle if idle >= self.timeout else None

    async def _connections(self, project_id: int) -> int:
        """Open websocket connections to the kernel (JupyterLab notebooks, consoles)."""
        handle = self.kernels.handle(project_id)
        if handle is None:
            return 0
        try:
            model: Any = await ensure_async(self.kernels.km.kernel_model(handle.kernel_id))
        except Exception:  # gone meanwhile: nothing to keep it for
            return 0
        return int(model.get("connections", 0) or 0) if isinstance(model, dict) else 0
