"""One Jupyter kernel per project, through the server's own kernel and session managers.

Kernels start lazily on first use, show up in JupyterLab's running kernels and sessions
(a console can attach), and keep one long-lived client each (``kernel_connect.py``): the
same code runs local kernels and kernels on a Jupyter Kernel or Enterprise Gateway
(``--GatewayClient.url``: the server's kernel manager is then the gateway one and
``kernel.client()`` a ``GatewayKernelClient``). A kernel is handed out once the project's
setup code has run in it; a first start adopts a spare kernel when there is one
(``kernel_setup.py``, ``spares.py``).

A kernel that dies (crash, SIGKILL, the out-of-memory killer) is restarted by a restarter:
jupyter_client's for local kernels, which we hear through its restart callback; the
gateway's for remote ones, which says so on iopub (``iopub.py`` hears it). We count a new
*generation* (``kernel_rows.py``) and record that the project's state was lost, so the
runner can fail the run that was executing and later code can tell that earlier results
are gone. This module owns the handles: lookup, start, restart and shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async

from .. import metrics
from ..projects.locks import KeyedLocks
from ..store import Database
from ..store.types import utcnow
from .kernel_connect import attach, open_client, retire
from .kernel_handle import KernelHandle, KernelStartError
from .kernel_liveness import exit_reason, handle_alive, reader_open, usable_now
from .kernel_rows import record_start, record_stop
from .kernel_setup import place_spare, run_setup
from .shared_sessions import protect_project_kernels

if TYPE_CHECKING:
    from .spares import Spare, SparePool

log = logging.getLogger(__name__)

StateListener = Callable[[int, str, int, str], Awaitable[None]]
# Jupyter Server's event for kernel starts, interrupts, restarts and shutdowns
KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


class ProjectKernels:
    """Starts, tracks, restarts and stops the kernels of projects."""

    def __init__(
        self,
        serverapp: Any,
        db: Database,
        kernel_name: str,
        on_state: StateListener,
        startup_timeout: float = 60.0,
    ) -> None:
        self.serverapp = serverapp
        self.km = serverapp.kernel_manager
        self.sessions = getattr(serverapp, "session_manager", None)
        self.db = db
        self.kernel_name = kernel_name
        self.on_state = on_state
        self.startup_timeout = startup_timeout
        self._handles: dict[int, KernelHandle] = {}
        # project id -> code run silently whenever the project's kernel (re)starts
        self.setup: Callable[[int], str] | None = None
        self._locks = KeyedLocks()
        self._tasks: set[asyncio.Future[None]] = set()
        metrics.watch_kernels(self)
        self.spares: SparePool | None = None  # kernels started ahead (spares.py)
        protect_project_kernels(self.sessions, self._keeps_kernel)
        event_logger = getattr(serverapp, "event_logger", None)
        if event_logger is not None:  # a restart from JupyterLab's toolbar, a console...
            event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=self._on_kernel_action)

    def _keeps_kernel(self, kernel_id: str, session_id: str) -> bool:
        """Whether deleting ``session_id`` must leave ``kernel_id`` running: it is a
        project's kernel and the session is not the project's own (shared_sessions.py)."""
        handle = self._by_kernel(kernel_id)
        return handle is not None and handle.session_id != session_id and not handle.stopping

    def _by_kernel(self, kernel_id: str | None) -> KernelHandle | None:
        """The project handle of a kernel id, if it is a project's kernel."""
        return next((h for h in list(self._handles.values()) if h.kernel_id == kernel_id), None)

    def handle(self, project_id: int) -> KernelHandle | None:
        return self._handles.get(project_id)

    def live_count(self) -> int:
        """Kernels started and not known dead (a metric)."""
        return sum(1 for h in list(self._handles.values()) if not h.died.is_set())

    def settling(self, project_id: int) -> bool:
        """Whether the kernel is being started, restarted or shut down right now."""
        return self._locks.busy(project_id)

    async def ensure(self, project_id: int, name: str, cwd: str) -> KernelHandle:
        """The project's kernel, started (or reconnected after a crash) if needed."""
        async with self._locks.hold(project_id):
            handle = self._handles.get(project_id)
            if handle is not None and handle.kernel_id not in self.km:
                self._forget(handle)
                handle = None
            # A kernel restarted elsewhere (e.g. from JupyterLab) lost its state too. A
            # remote kernel is judged by its reader (asking the gateway costs a request).
            if handle is not None and not handle.died.is_set():
                if handle.remote:
                    alive = reader_open(handle)
                else:
                    alive = await self.is_alive(handle)
                if not alive:
                    self.mark_dead(handle, handle.death_reason or self.exit_reason(handle))
            if handle is not None and handle.died.is_set():
                handle = await self._reconnect(handle)
            if handle is None:
                handle = await self._start(project_id, name, cwd)
            return handle

    async def _start(self, project_id: int, name: str, cwd: str) -> KernelHandle:
        root = Path(self.serverapp.root_dir)
        try:
            (root / cwd).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KernelStartError(f"cannot create the working directory {cwd!r}: {exc}") from exc
        spare = await self.spares.take() if self.spares is not None else None
        if spare is not None:
            try:
                return await self._adopt(spare, project_id, name, cwd)
            except Exception as exc:  # a kernel of its own, then
                log.warning("ai_notebook_ext: adopting a spare kernel failed: %s", exc)
        try:
            if self.sessions is not None:
                model = await self.sessions.create_session(
                    path=cwd, name=name, type="ai-notebook", kernel_name=self.kernel_name
                )
                kernel_id, session_id = model["kernel"]["id"], model["id"]
            else:
                kernel_id = await self.km.start_kernel(kernel_name=self.kernel_name, path=cwd)
                session_id = None
        except Exception as exc:
            raise KernelStartError(
                f"could not start kernel {self.kernel_name!r} for project {project_id}: {exc}"
            ) from exc
        handle = self._new_handle(project_id, kernel_id, session_id)
        return await self._begin(handle, lambda: self._connect(handle))

    async def _adopt(self, spare: Spare, project_id: int, name: str, cwd: str) -> KernelHandle:
        """Make a spare kernel the project's, as if started for it (see spares.py)."""
        handle = self._new_handle(project_id, spare.kernel_id, None)
        attach(handle, spare.client, spare.reader, spare.pid, partial(self.mark_dead, handle))

        async def prepare() -> None:
            code = await place_spare(self.km, self.sessions, handle, spare, name, cwd)
            if not await self._setup(handle, code):
                raise KernelStartError("the spare kernel's adoption code did not succeed")

        handle = await self._begin(handle, prepare)
        log.info("ai_notebook_ext: project %s took spare kernel %s", project_id, spare.kernel_id)
        return handle

    def _new_handle(self, project_id: int, kernel_id: str, session_id: str | None) -> KernelHandle:
        return KernelHandle(
            project_id=project_id,
            kernel_id=kernel_id,
            session_id=session_id,
            kernel_name=self.kernel_name,
            client=None,
            generation=0,
            started_at=utcnow(),
        )

    async def _begin(
        self, handle: KernelHandle, prepare: Callable[[], Awaitable[None]]
    ) -> KernelHandle:
        """A started kernel becomes the project's: ``prepare`` (connect or adopt it, run
        the setup code), then its generation, watch and handle. If any of that fails the
        kernel is shut down: no half-started kernel is left behind."""
        try:
            await prepare()
            handle.generation = await self._record_start(handle.project_id, handle.kernel_id, "")
        except BaseException:
            await self._shutdown_handle(handle)
            raise
        self._watch(handle)
        self._handles[handle.project_id] = handle
        await self.on_state(handle.project_id, "started", handle.generation, "")
        return handle

    async def _connect(self, handle: KernelHandle) -> None:
        """Our client to the handle's (new) kernel process, then the setup code."""
        client, reader, pid = await open_client(self.km, handle.kernel_id, self.startup_timeout)
        attach(handle, client, reader, pid, partial(self.mark_dead, handle))
        if self.setup is not None:
            await self._setup(handle)

    async def _setup(self, handle: KernelHandle, code: str = "") -> bool:
        """Run ``code`` then the project's setup code in the kernel (kernel_setup.py)."""
        if self.setup is not None:
            code += self.setup(handle.project_id)
        return await run_setup(self.km, handle, code, self.startup_timeout)

    async def _record_start(self, project_id: int, kernel_id: str, reason: str) -> int:
        return await record_start(self.db, project_id, kernel_id, self.kernel_name, reason)

    def _watch(self, handle: KernelHandle) -> None:
        """Hear from jupyter_client's restarter when the kernel dies."""
        kernel = self.km.get_kernel(handle.kernel_id)

        def on_restart() -> None:
            self.mark_dead(handle, self.exit_reason(handle))

        handle.callback = on_restart
        if hasattr(kernel, "add_restart_callback"):
            kernel.add_restart_callback(on_restart, "restart")
            kernel.add_restart_callback(on_restart, "dead")

    def mark_dead(self, handle: KernelHandle, reason: str) -> None:
        """Record that the kernel died (idempotent until it is reconnected)."""
        if handle.died.is_set():
            return
        handle.death_reason = reason
        handle.died.set()
        log.warning("ai_notebook_ext: kernel of project %s died: %s", handle.project_id, reason)
        task = asyncio.ensure_future(
            self.on_state(handle.project_id, "dead", handle.generation, reason)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def exit_reason(self, handle: KernelHandle) -> str:
        """Why the kernel process ended: its exit code or signal, when the manager has it."""
        return exit_reason(self.km, handle)

    def ready(self, project_id: int) -> KernelHandle | None:
        """The project's kernel if code can go to it right now, judged without awaiting:
        connected, not known dead, not being started or restarted, and (local kernels
        only) its process still the one we connected to and running. None otherwise;
        ``ensure`` then does the full check."""
        handle = self._handles.get(project_id)
        if handle is None or self._locks.busy(project_id) or not usable_now(self.km, handle):
            return None
        return handle

    async def is_alive(self, handle: KernelHandle) -> bool:
        """Whether the kernel we connected to lives (kernel_liveness.handle_alive)."""
        return await handle_alive(self.km, handle)

    async def _reconnect(self, handle: KernelHandle) -> KernelHandle | None:
        """After a death: wait for the restarter's new process, or start afresh."""
        retire(handle)
        deadline = asyncio.get_running_loop().time() + self.startup_timeout
        while asyncio.get_running_loop().time() < deadline:
            if handle.kernel_id not in self.km:
                self._forget(handle)
                return None
            kernel = self.km.get_kernel(handle.kernel_id)
            if await ensure_async(kernel.is_alive()):
                break
            if handle.remote:  # the gateway no longer has it (culled, shut down): start anew
                await self._shutdown_handle(handle)
                return None
            await asyncio.sleep(0.2)
        else:
            await self._shutdown_handle(handle)
            return None
        handle.generation = await self._record_start(
            handle.project_id, handle.kernel_id, handle.death_reason or "kernel restarted"
        )
        handle.started_at = utcnow()
        await self._connect(handle)
        handle.died.clear()
        await self.on_state(handle.project_id, "restarted", handle.generation, handle.death_reason)
        handle.death_reason = ""
        return handle

    async def _on_kernel_action(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        """A project kernel restarted or shut down by someone else (JupyterLab's toolbar,
        its running-kernels panel, a console) lost its state: say so now, so blocks turn
        stale at once rather than at the next run. Our own restarts end with the handle on
        the new process and our own shutdowns forget the handle first, so they are
        recognised and left alone."""
        action = data.get("action")
        if data.get("status") != "success" or action not in ("restart", "shutdown"):
            return
        handle = self._by_kernel(data.get("kernel_id"))
        if handle is None:
            return
        project_id = handle.project_id
        async with self._locks.hold(project_id):
            if self._handles.get(project_id) is not handle or handle.died.is_set():
                return
            if action == "shutdown":
                reason = "the kernel was shut down outside AI Notebook"
                handle.stopping = handle.death_reason = reason
                handle.died.set()  # a run in progress ends with this reason
                retire(handle, stopping=True)
                self._forget(handle)
                await record_stop(self.db, project_id, reason)
            elif handle.remote and handle.own_restarts:  # the event of our own restart
                handle.own_restarts -= 1
                return
            elif not handle.remote and await self.is_alive(handle):  # ours, or no change
                return
            else:
                handle.death_reason = "the kernel was restarted outside AI Notebook"
                handle.died.set()
                try:
                    await self._reconnect(handle)
                except Exception:  # the next run's ``ensure`` starts afresh
                    log.exception("ai_notebook_ext: reconnecting to kernel %s", handle.kernel_id)
                return
        await self.on_state(project_id, "shutdown", handle.generation, reason)

    async def interrupt(self, project_id: int) -> bool:
        handle = self._handles.get(project_id)
        if handle is None or handle.kernel_id not in self.km:
            return False
        await ensure_async(self.km.interrupt_kernel(handle.kernel_id))
        return True

    async def restart(self, project_id: int, reason: str = "restarted on request") -> bool:
        """Restart the kernel (state lost); False if the project has no kernel."""
        async with self._locks.hold(project_id):
            handle = self._handles.get(project_id)
            if handle is None or handle.kernel_id not in self.km:
                return False
            handle.death_reason = reason  # a run in progress reports this
            handle.died.set()  # the restart callback must not count this as a crash
            retire(handle)
            handle.own_restarts += handle.remote
            try:
                pending = await ensure_async(self.km.restart_kernel(handle.kernel_id, now=True))
            except BaseException:
                handle.own_restarts -= handle.remote  # failed: no success event comes
                raise
            if isinstance(pending, asyncio.Future):
                # Jupyter Server's restart resolves when the new kernel answers it: only
                # then is its activity tracker settled, to be taken over by our client.
                try:
                    await pending
                except Exception as exc:  # _connect reports a kernel that is not there
                    log.warning("ai_notebook_ext: restart of project %s: %s", project_id, exc)
            handle.generation = await self._record_start(project_id, handle.kernel_id, reason)
            handle.started_at = utcnow()
            await self._connect(handle)
            handle.died.clear()
            handle.death_reason = ""
        await self.on_state(project_id, "restarted", handle.generation, reason)
        return True

    async def shutdown(self, project_id: int, reason: str = "shut down on request") -> bool:
        async with self._locks.hold(project_id):
            handle = self._handles.get(project_id)
            if handle is None:
                return False
            await self._stop_handle(handle, reason)
            # Recorded before the handle goes: the API never shows "not started" with
            # the previous reason.
            try:
                await record_stop(self.db, project_id, reason)
            finally:
                self._forget(handle)
        await self.on_state(project_id, "shutdown", handle.generation, reason)
        return True

    async def shutdown_all(self) -> None:
        if self.spares is not None:
            await self.spares.close()
        for project_id in list(self._handles):
            try:
                await self.shutdown(project_id, "server stopped")
            except Exception:  # keep stopping the others
                log.exception("ai_notebook_ext: stopping the kernel of project %s", project_id)

    async def _shutdown_handle(self, handle: KernelHandle, reason: str = "shut down") -> None:
        await self._stop_handle(handle, reason)
        self._forget(handle)

    async def _stop_handle(self, handle: KernelHandle, reason: str) -> None:
        """Stop the kernel (interrupting a busy one first); its handle stays known."""
        handle.stopping = reason
        if self.state(handle.project_id)["state"] == "busy":
            # Interrupt first: a kernel shut down mid-request logs socket errors on exit.
            try:
                await self.interrupt(handle.project_id)
                for _ in range(10):
                    await asyncio.sleep(0.1)
                    if self.state(handle.project_id)["state"] != "busy":
                        break
            except Exception as exc:  # shut it down all the same
                log.info("ai_notebook_ext: interrupting kernel %s: %s", handle.kernel_id, exc)
        handle.died.set()
        retire(handle, stopping=True)
        try:
            if handle.session_id and self.sessions is not None:
                await ensure_async(self.sessions.delete_session(handle.session_id))
            elif handle.kernel_id in self.km:
                await ensure_async(self.km.shutdown_kernel(handle.kernel_id, now=True))
        except Exception as exc:  # already gone: nothing left to stop
            log.info("ai_notebook_ext: kernel %s already gone: %s", handle.kernel_id, exc)

    def _forget(self, handle: KernelHandle) -> None:
        if handle.kernel_id in self.km and handle.callback is not None:
            kernel = self.km.get_kernel(handle.kernel_id)
            if hasattr(kernel, "remove_restart_callback"):
                kernel.remove_restart_callback(handle.callback, "restart")
                kernel.remove_restart_callback(handle.callback, "dead")
        if self._handles.get(handle.project_id) is handle:
            del self._handles[handle.project_id]

    def state(self, project_id: int) -> dict[str, Any]:
        """Live state of the project's kernel, from the kernel manager."""
        handle = self._handles.get(project_id)
        if handle is None or handle.kernel_id not in self.km:
            return {"state": "not_started", "last_activity": None}
        if handle.died.is_set():
            return {"state": "restarting", "last_activity": None}
        kernel = self.km.get_kernel(handle.kernel_id)
        return {
            "state": getattr(kernel, "execution_state", "idle") or "idle",
            "last_activity": getattr(kernel, "last_activity", None),
        }
