"""One Jupyter kernel per project, through the server's own kernel and session managers.

Kernels start lazily on first use, show up in JupyterLab's running kernels and sessions
(a console can attach), and keep one long-lived client each, driven through jupyter_client's
public client interface only: the same code runs local kernels and kernels on a Jupyter
Kernel or Enterprise Gateway (``--GatewayClient.url``: the server's kernel manager is then
the gateway one and ``kernel.client()`` a ``GatewayKernelClient``).

A kernel that dies (crash, SIGKILL, the out-of-memory killer) is restarted by a restarter:
jupyter_client's for local kernels, which we hear through its restart callback; the
gateway's for remote ones, which says so on iopub (``iopub.py`` hears it). We count a new
*generation* and record that the project's state was lost, so the runner can fail the run
that was executing and later code can tell that earlier results are gone.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async

from .. import metrics
from ..projects.locks import KeyedLocks
from ..store import Database
from ..store.models import ProjectKernel
from ..store.types import utcnow
from .iopub import ChannelClosed, IopubReader, KernelActivity
from .session import LeanSession
from .widgets import OutputWidgets

if TYPE_CHECKING:
    from .spares import Spare, SparePool

log = logging.getLogger(__name__)

SETUP_POLL = 0.5  # seconds between liveness checks while the setup code runs
READY_WAIT = 1.0  # seconds to wait for a kernel_info reply before asking again

StateListener = Callable[[int, str, int, str], Awaitable[None]]


def kernel_pid(kernel: Any) -> int | None:
    """The process id of a local kernel (None for remote ones)."""
    pid = getattr(getattr(kernel, "provisioner", None), "pid", None)
    return pid if isinstance(pid, int) else None


class KernelStartError(RuntimeError):
    """The project's kernel could not be started or reached."""


@dataclass
class KernelHandle:
    """A running project kernel and our client to it."""

    project_id: int
    kernel_id: str
    session_id: str | None
    kernel_name: str
    client: Any
    generation: int
    started_at: datetime
    died: asyncio.Event = field(default_factory=asyncio.Event)
    death_reason: str = ""
    callback: Callable[[], None] | None = None
    pid: int | None = None  # the kernel process we connected to (local kernels)
    remote: bool = False  # no local process (a gateway's kernel): the reader reports death
    reader: IopubReader | None = None  # reads the client's iopub channel (iopub.py)
    stopping: str = ""  # why the kernel is being shut down (a run in progress reports it)
    widgets: OutputWidgets = field(default_factory=OutputWidgets)  # of this process


def describe_exit(returncode: int | None) -> str:
    """A person-readable reason for a kernel process ending."""
    if returncode is None:
        return "the kernel process ended"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (for example by the out-of-memory killer)" if name == "SIGKILL" else ""
        return f"the kernel process was killed by {name}{hint}"
    return f"the kernel process exited with code {returncode}"


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
                    alive = handle.reader is not None and not handle.reader.closed
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
        handle = KernelHandle(
            project_id=project_id,
            kernel_id=kernel_id,
            session_id=session_id,
            kernel_name=self.kernel_name,
            client=None,
            generation=0,
            started_at=utcnow(),
        )
        try:
            await self._connect(handle)
            handle.generation = await self._record_start(project_id, kernel_id, "")
        except BaseException:
            await self._shutdown_handle(handle)  # no half-started kernel is left behind
            raise
        self._watch(handle)
        self._handles[project_id] = handle
        await self.on_state(project_id, "started", handle.generation, "")
        return handle

    async def _adopt(self, spare: Spare, project_id: int, name: str, cwd: str) -> KernelHandle:
        """Make a spare kernel the project's, as if started for it (see spares.py)."""
        from .spares import adoption_code

        kernel_id = spare.kernel_id
        kernel = self.km.get_kernel(kernel_id)
        handle = KernelHandle(
            project_id=project_id,
            kernel_id=kernel_id,
            session_id=None,
            kernel_name=self.kernel_name,
            client=spare.client,
            generation=0,
            started_at=utcnow(),
            pid=spare.pid,
            reader=spare.reader,
        )
        spare.reader.on_lost = lambda reason: self.mark_dead(handle, reason)
        try:
            # What Jupyter's session manager gives a kernel it starts (sessionmanager.py).
            env = dict(spare.env)
            kernel_path = cwd
            if self.sessions is not None:
                contents = self.sessions.contents_manager
                kernel_path = await ensure_async(contents.get_kernel_path(path=cwd))
                env = self.sessions.get_kernel_env(cwd, name)
            os_cwd = self.km.cwd_for_path(kernel_path, env=env)
            changed = {k: v for k, v in env.items() if spare.env.get(k) != v}
            unset = [k for k in spare.env if k not in env]
            # A restart (ours, JupyterLab's, the restarter's) starts it there too.
            self.km.update_env(kernel_id=kernel_id, env=changed)
            launch = getattr(kernel, "_launch_args", None)
            if isinstance(launch, dict):
                launch["cwd"] = os_cwd
                for key in unset:
                    launch.get("env", {}).pop(key, None)
            if self.sessions is not None:
                model = await self.sessions.create_session(
                    path=cwd,
                    name=name,
                    type="ai-notebook",
                    kernel_name=self.kernel_name,
                    kernel_id=kernel_id,
                )
                handle.session_id = model["id"]
            code = adoption_code(os_cwd, changed, unset)
            if self.setup is not None:
                code += self.setup(project_id)
            if not await self._run_setup(handle, code):
                raise KernelStartError("the spare kernel's adoption code did not succeed")
            handle.generation = await self._record_start(project_id, kernel_id, "")
        except BaseException:
            await self._shutdown_handle(handle)
            raise
        self._watch(handle)
        self._handles[project_id] = handle
        log.info("ai_notebook_ext: project %s took spare kernel %s", project_id, kernel_id)
        await self.on_state(project_id, "started", handle.generation, "")
        return handle

    async def _connect(self, handle: KernelHandle) -> None:
        client, reader, pid = await self.open_client(handle.kernel_id)
        handle.pid = pid
        handle.remote = pid is None
        reader.on_lost = lambda reason: self.mark_dead(handle, reason)
        handle.client, handle.reader = client, reader
        handle.stopping = ""
        handle.widgets = OutputWidgets()  # a new process: no widgets yet
        if self.setup is not None:
            await self._run_setup(handle, self.setup(handle.project_id))

    async def open_client(self, kernel_id: str) -> tuple[Any, IopubReader, int | None]:
        """Our client to a started kernel, its reader, and its process id (None for
        remote kernels), once the kernel answers on both channels."""
        kernel = self.km.get_kernel(kernel_id)
        # Our own Session (same key): a shared one would see each broadcast message twice
        # and refuse the second copy as a replay. Lean: no date parsing (session.py).
        session = LeanSession(
            key=kernel.session.key, signature_scheme=kernel.session.signature_scheme
        )
        client = kernel.client(session=session)
        try:
            started = client.start_channels()
            if inspect.isawaitable(started):  # GatewayKernelClient opens its websocket
                await started
        except Exception as exc:
            raise KernelStartError(f"cannot connect to kernel {kernel_id}: {exc}") from exc
        reader = IopubReader(client, None)
        reader.start()
        try:
            await self._wait_ready(kernel_id, client, reader)
        except BaseException:
            reader.stop(release=False)
            client.stop_channels()
            raise
        # Activity is ours from here: the readiness check is no activity (as in Jupyter).
        reader.activity = KernelActivity.take_over(self.km, kernel_id)
        return client, reader, kernel_pid(kernel)

    async def _wait_ready(self, kernel_id: str, client: Any, reader: IopubReader) -> None:
        """Until the kernel answers ``kernel_info`` on shell and its status reaches us on
        iopub (so both channels are connected): ``wait_for_ready``'s steps, through our
        reader. ``KernelStartError`` if it dies or does not answer within the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        while True:
            msg_id = client.kernel_info()
            box = reader.subscribe(msg_id)
            try:
                reply = await asyncio.wait_for(box.reply, READY_WAIT)
                if reply is not None:
                    while True:  # busy then idle; none within a moment: iopub not yet there
                        msg = await box.get(timeout=0.2)
                        content = msg.get("content") or {}
                        if msg["msg_type"] == "status" and content.get("execution_state") == "idle":
                            return
            except (TimeoutError, queue.Empty):
                pass
            except ChannelClosed as exc:
                raise KernelStartError(f"kernel {kernel_id} went away: {exc}") from exc
            finally:
                reader.unsubscribe(msg_id)
            if reader.closed:
                raise KernelStartError(f"the connection to kernel {kernel_id} closed")
            if not await self._process_alive(kernel_id):
                raise KernelStartError(f"kernel {kernel_id} died before it answered")
            if loop.time() > deadline:
                raise KernelStartError(
                    f"kernel {kernel_id} did not answer in {self.startup_timeout:g} s"
                )

    async def _run_setup(self, handle: KernelHandle, code: str) -> bool:
        """Run our setup code and wait for it, so that a kernel handed out (started,
        restarted) is idle and ready rather than busy with it a moment later. A setup
        that fails, hangs or dies is logged (False); the next request finds out the rest."""
        reader = handle.reader
        assert reader is not None
        msg_id = handle.client.execute(code, silent=True, store_history=False, allow_stdin=False)
        box = reader.subscribe(msg_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        project = handle.project_id
        ok = True
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    msg = await box.get(timeout=min(SETUP_POLL, remaining))
                except queue.Empty:
                    if not await self._process_alive(handle.kernel_id):
                        log.warning("ai_notebook_ext: kernel of project %s died in setup", project)
                        return False
                    continue
                content = msg.get("content") or {}
                if msg["msg_type"] == "error":
                    ok = False
                    log.warning(
                        "ai_notebook_ext: setup code failed in the kernel of project %s: %s: %s",
                        project,
                        content.get("ename"),
                        content.get("evalue"),
                    )
                elif msg["msg_type"] == "status" and content.get("execution_state") == "idle":
                    return ok
            log.warning(
                "ai_notebook_ext: setup of project %s still running after %s s",
                project,
                self.startup_timeout,
            )
        except ConnectionError as exc:  # our client closed under us
            log.warning("ai_notebook_ext: setup of project %s interrupted: %s", project, exc)
        finally:
            reader.unsubscribe(msg_id)
        return False

    async def _process_alive(self, kernel_id: str) -> bool:
        """Whether the kernel process lives (whatever our bookkeeping says)."""
        if kernel_id not in self.km:
            return False
        return bool(await ensure_async(self.km.get_kernel(kernel_id).is_alive()))

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
        if handle.remote:
            return "the kernel on the gateway ended"
        kernel = self.km.get_kernel(handle.kernel_id) if handle.kernel_id in self.km else None
        process = getattr(getattr(kernel, "provisioner", None), "process", None)
        return describe_exit(getattr(process, "returncode", None))

    def ready(self, project_id: int) -> KernelHandle | None:
        """The project's kernel if code can go to it right now, judged without awaiting:
        connected, not known dead, not being started or restarted, and (local kernels
        only) its process still the one we connected to and running. None otherwise;
        ``ensure`` then does the full check."""
        handle = self._handles.get(project_id)
        if (
            handle is None
            or handle.client is None
            or handle.died.is_set()
            or handle.kernel_id not in self.km
            or self._locks.busy(project_id)
        ):
            return None
        if handle.remote:  # no process to look at: the reader hears of a death
            return handle if handle.reader is not None and not handle.reader.closed else None
        kernel = self.km.get_kernel(handle.kernel_id)
        process = getattr(getattr(kernel, "provisioner", None), "process", None)
        if process is None or kernel_pid(kernel) != handle.pid or process.poll() is not None:
            return None
        return handle

    async def is_alive(self, handle: KernelHandle) -> bool:
        """Whether the kernel we connected to lives: its process for local kernels, the
        gateway's word (an HTTP request) for remote ones."""
        if handle.died.is_set() or handle.kernel_id not in self.km:
            return False
        if handle.remote and (handle.reader is None or handle.reader.closed):
            return False
        kernel = self.km.get_kernel(handle.kernel_id)
        if handle.pid is not None and kernel_pid(kernel) not in (None, handle.pid):
            handle.death_reason = "the kernel was restarted outside AI Notebook"
            return False
        return await self._process_alive(handle.kernel_id)

    @staticmethod
    def _retire(handle: KernelHandle, stopping: bool = False) -> None:
        """Close the handle's client. A runner waiting for messages is told the channel
        closed and reports the kernel's death or restart (runner.execute handles that).
        ``stopping``: the kernel is being shut down (Jupyter need not watch it again)."""
        reader, handle.reader = handle.reader, None
        if reader is not None:
            reader.stop(release=not stopping)
        client, handle.client = handle.client, None
        if client is not None:
            client.stop_channels()

    async def _reconnect(self, handle: KernelHandle) -> KernelHandle | None:
        """After a death: wait for the restarter's new process, or start afresh."""
        self._retire(handle)
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
            self._retire(handle)
            pending = await ensure_async(self.km.restart_kernel(handle.kernel_id, now=True))
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
            await self._shutdown_handle(handle, reason)
            await self._record_stop(project_id, reason)
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
        self._retire(handle, stopping=True)
        try:
            if handle.session_id and self.sessions is not None:
                await ensure_async(self.sessions.delete_session(handle.session_id))
            elif handle.kernel_id in self.km:
                await ensure_async(self.km.shutdown_kernel(handle.kernel_id, now=True))
        except Exception as exc:  # already gone: nothing left to stop
            log.info("ai_notebook_ext: kernel %s already gone: %s", handle.kernel_id, exc)
        self._forget(handle)

    def _forget(self, handle: KernelHandle) -> None:
        if handle.kernel_id in self.km and handle.callback is not None:
            kernel = self.km.get_kernel(handle.kernel_id)
            if hasattr(kernel, "remove_restart_callback"):
                kernel.remove_restart_callback(handle.callback, "restart")
                kernel.remove_restart_callback(handle.callback, "dead")
        if self._handles.get(handle.project_id) is handle:
            del self._handles[handle.project_id]

    async def _record_start(self, project_id: int, kernel_id: str, reason: str) -> int:
        """Persist a new generation; a non-empty reason means earlier state was lost."""
        async with self.db.session() as session:
            row = await session.get(ProjectKernel, project_id)
            now = utcnow()
            if row is None:
                row = ProjectKernel(project_id=project_id, generation=0, reset_reason="")
                session.add(row)
            row.generation = (row.generation or 0) + 1
            row.kernel_id = kernel_id
            row.kernel_name = self.kernel_name
            row.started_at = now
            row.reset_at = now
            row.reset_reason = reason or "kernel started"
            return row.generation

    async def _record_stop(self, project_id: int, reason: str) -> None:
        async with self.db.session() as session:
            row = await session.get(ProjectKernel, project_id)
            if row is not None:
                row.kernel_id = None
                row.reset_at = utcnow()
                row.reset_reason = reason

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
