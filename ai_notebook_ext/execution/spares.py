"""Spare kernels: kernels of the project kernelspec started before a project needs one.

Starting a Python kernel takes about a second of a core (more on a loaded machine), and
a project's first run (an execute, a pipeline, the base of a parallel pipeline's forks)
used to wait for it. ``AINotebook.spare_kernels`` keeps that many kernels started and
connected (our client, its reader, the kernel answering) so that the first run takes
one instead. The pool fills once the server runs (``start``, from the extension's start
hook: never in the way of the server's startup) and refills in the background after a
spare is taken.

A spare belongs to the server until it is adopted: it has no session and no project row,
so under ProjectAuthorizer only unrestricted users (admins, single-user mode) see it.
Adoption (``ProjectKernels._adopt``, ``kernel_setup.py``) gives it what a kernel started
for the project gets: its session, the project folder as working directory and
``JPY_SESSION_NAME`` (in the kernel by ``adoption_code``, and in the manager's launch
arguments so that a restart starts there too), then the project's setup code and row.

Spares are local kernels only: on a Gateway, a kernel's working directory and
environment are fixed by the gateway when it starts (``KERNEL_WORKING_DIR``), so a
spare could not be made the project's. Spares idle longer than
``kernel_idle_timeout`` are culled like project kernels, and the pool refills only
after the next kernel start it is asked for; the server's stop shuts them down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async

from ..store.types import utcnow
from .iopub import IopubReader
from .kernel_connect import open_client
from .kernel_liveness import process_running

if TYPE_CHECKING:
    from .kernels import ProjectKernels

log = logging.getLogger(__name__)
CLOSE_WAIT = 30.0  # seconds a server stop waits for a spare being started


@dataclass
class Spare:
    """A started kernel, our client to it and the environment it was started with."""

    kernel_id: str
    client: Any
    reader: IopubReader
    pid: int | None
    env: dict[str, str]
    ready_at: datetime = field(default_factory=utcnow)


class SparePool:
    """Keeps ``size`` spare kernels of ``kernels.kernel_name`` started (0: none)."""

    def __init__(self, kernels: ProjectKernels, size: int) -> None:
        self.kernels = kernels
        self.size = size
        self._ready: deque[Spare] = deque()
        self._filler: asyncio.Task[None] | None = None
        self._arrival: asyncio.Future[None] | None = None  # resolved when a spare is added
        self._started = False
        self._dormant = False  # culled: refill only when a kernel start asks again
        self._closed = False

    @property
    def spares(self) -> list[Spare]:
        return list(self._ready)

    def kernel_ids(self) -> set[str]:
        return {spare.kernel_id for spare in self._ready}

    def enabled(self) -> bool:
        """Spares on this server: a size above 0 and local kernels (see module doc)."""
        return self.size > 0 and not _gateway(self.kernels.km)

    def start(self) -> None:
        """Begin filling (the server is up). Does nothing when disabled."""
        if self._started or self._closed or not self.enabled():
            return
        self._started = True
        self._fill_soon()

    async def take(self) -> Spare | None:
        """A ready spare (waiting for one being started), or None: start a kernel."""
        if not self._started or self._closed:
            return None
        self._dormant = False
        spare = self._pop_alive()
        if spare is None and self._filler is not None and not self._filler.done():
            if self._arrival is None:
                self._arrival = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._arrival), self.kernels.startup_timeout)
            spare = self._pop_alive()
        self._fill_soon()
        return spare

    async def cull(self, idle: float, now: datetime | None = None) -> int:
        """Shut down spares ready for longer than ``idle`` seconds; the pool stays
        empty until a kernel start asks for one. The number shut down."""
        now = now or utcnow()
        stale = [s for s in self._ready if (now - s.ready_at).total_seconds() >= idle]
        for spare in stale:
            self._ready.remove(spare)
        if stale:
            self._dormant = True
            log.info("ai_notebook_ext: %d spare kernel(s) culled after %d s", len(stale), idle)
        for spare in stale:
            await self._stop(spare)
        return len(stale)

    async def close(self) -> None:
        """Server stop: no more filling; every spare (and one being started) shut down."""
        self._closed = True
        filler, self._filler = self._filler, None
        if filler is not None:
            # A start in progress finishes and stops its kernel (_fill sees _closed): cut
            # short, its client's threads could open sockets on a context being closed.
            _, pending = await asyncio.wait({filler}, timeout=CLOSE_WAIT)
            if pending:
                filler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await filler
        while self._ready:
            await self._stop(self._ready.popleft())
        self._wake()

    def _pop_alive(self) -> Spare | None:
        while self._ready:
            spare = self._ready.popleft()
            if self._alive(spare):
                return spare
            log.info("ai_notebook_ext: spare kernel %s was gone", spare.kernel_id)
            self._track(self._stop(spare))
        return None

    def _alive(self, spare: Spare) -> bool:
        """Judged without awaiting: still managed, the same process, running, read."""
        km = self.kernels.km
        if spare.kernel_id not in km or spare.reader.closed:
            return False
        return process_running(km.get_kernel(spare.kernel_id), spare.pid)

    def _fill_soon(self) -> None:
        if self._closed or self._dormant or len(self._ready) >= self.size:
            return
        if self._filler is None or self._filler.done():
            self._filler = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        try:
            while not self._closed and not self._dormant and len(self._ready) < self.size:
                try:
                    spare = await self._start_one()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the next take tries again; its run reports it
                    log.warning("ai_notebook_ext: starting a spare kernel: %s", exc)
                    return
                if self._closed:
                    await self._stop(spare)
                    return
                self._ready.append(spare)
                self._wake()
        finally:
            self._wake()

    async def _start_one(self) -> Spare:
        km = self.kernels.km
        env = dict(os.environ)  # what a project kernel gets, but its session name
        kernel_id = await ensure_async(
            km.start_kernel(kernel_name=self.kernels.kernel_name, path="", env=dict(env))
        )
        try:
            client, reader, pid = await open_client(km, kernel_id, self.kernels.startup_timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await ensure_async(km.shutdown_kernel(kernel_id, now=True))
            raise
        log.info("ai_notebook_ext: spare kernel %s ready", kernel_id)
        return Spare(kernel_id, client, reader, pid, env)

    async def _stop(self, spare: Spare) -> None:
        spare.reader.stop(release=False)
        spare.client.stop_channels()
        km = self.kernels.km
        try:
            if spare.kernel_id in km:
                await ensure_async(km.shutdown_kernel(spare.kernel_id, now=True))
        except Exception as exc:  # already gone
            log.info("ai_notebook_ext: spare kernel %s: %s", spare.kernel_id, exc)

    def _wake(self) -> None:
        arrival, self._arrival = self._arrival, None
        if arrival is not None and not arrival.done():
            arrival.set_result(None)

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.kernels._tasks.add(task)
        task.add_done_callback(self.kernels._tasks.discard)


def _gateway(km: Any) -> bool:
    """Whether the server's kernels are a gateway's."""
    from jupyter_server.gateway.managers import GatewayMappingKernelManager

    return isinstance(km, GatewayMappingKernelManager)
