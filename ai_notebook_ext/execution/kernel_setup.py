"""Making a connected kernel the project's: our setup code, and the adoption of a spare.

Whenever a project's kernel (re)starts, the project's setup code (ain's settings) runs in
it silently before the kernel is handed out. A spare kernel (``spares.py``) started
before the project needed it is adopted instead of a fresh start: it gets what Jupyter's
session manager gives a kernel it starts (the session, the project folder as working
directory, ``JPY_SESSION_NAME``), in the kernel by ``adoption_code`` and in the kernel
manager's launch arguments so that a restart starts there too.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async

from .kernel_handle import KernelHandle
from .kernel_liveness import process_alive

if TYPE_CHECKING:
    from .spares import Spare

log = logging.getLogger(__name__)

SETUP_POLL = 0.5  # seconds between liveness checks while the setup code runs


async def run_setup(km: Any, handle: KernelHandle, code: str, startup_timeout: float) -> bool:
    """Run our setup code and wait for it, so that a kernel handed out (started,
    restarted) is idle and ready rather than busy with it a moment later. A setup
    that fails, hangs or dies is logged (False); the next request finds out the rest."""
    reader = handle.reader
    assert reader is not None
    msg_id = handle.client.execute(code, silent=True, store_history=False, allow_stdin=False)
    box = reader.subscribe(msg_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + startup_timeout
    project = handle.project_id
    ok = True
    try:
        while (remaining := deadline - loop.time()) > 0:
            try:
                msg = await box.get(timeout=min(SETUP_POLL, remaining))
            except queue.Empty:
                if not await process_alive(km, handle.kernel_id):
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
            startup_timeout,
        )
    except ConnectionError as exc:  # our client closed under us
        log.warning("ai_notebook_ext: setup of project %s interrupted: %s", project, exc)
    finally:
        reader.unsubscribe(msg_id)
    return False


async def place_spare(
    km: Any, sessions: Any, handle: KernelHandle, spare: Spare, name: str, cwd: str
) -> str:
    """Give the spare kernel of ``handle`` the project's session (``handle.session_id``),
    environment and working directory in the kernel manager; the kernel code doing the
    same inside the kernel (``adoption_code``), to run with the setup code."""
    kernel_id = spare.kernel_id
    kernel = km.get_kernel(kernel_id)
    # What Jupyter's session manager gives a kernel it starts (sessionmanager.py).
    env = dict(spare.env)
    kernel_path = cwd
    if sessions is not None:
        contents = sessions.contents_manager
        kernel_path = await ensure_async(contents.get_kernel_path(path=cwd))
        env = sessions.get_kernel_env(cwd, name)
    os_cwd = km.cwd_for_path(kernel_path, env=env)
    changed = {k: v for k, v in env.items() if spare.env.get(k) != v}
    unset = [k for k in spare.env if k not in env]
    # A restart (ours, JupyterLab's, the restarter's) starts it there too.
    km.update_env(kernel_id=kernel_id, env=changed)
    launch = getattr(kernel, "_launch_args", None)
    if isinstance(launch, dict):
        launch["cwd"] = os_cwd
        for key in unset:
            launch.get("env", {}).pop(key, None)
    if sessions is not None:
        model = await sessions.create_session(
            path=cwd,
            name=name,
            type="ai-notebook",
            kernel_name=handle.kernel_name,
            kernel_id=kernel_id,
        )
        handle.session_id = model["id"]
    return adoption_code(os_cwd, changed, unset)


def adoption_code(cwd: str, env: dict[str, str], unset: list[str]) -> str:
    """Kernel code making a spare look started for a project: its working directory,
    environment and IPython's ``__session__`` (set by ipykernel from
    ``JPY_SESSION_NAME`` at start) and directory history. Leaves no names behind."""
    return (
        "def _ainb_adopt(cwd, env, unset):\n"
        "    import os, pathlib\n"
        "    os.chdir(cwd)\n"
        "    os.environ.update(env)\n"
        "    for name in unset:\n"
        "        os.environ.pop(name, None)\n"
        "    shell = get_ipython()\n"
        "    session = os.environ.get('JPY_SESSION_NAME')\n"
        "    if session:\n"
        "        shell.user_ns['__session__'] = session\n"
        "    else:\n"
        "        shell.user_ns.pop('__session__', None)\n"
        "    history = shell.user_ns.get('_dh')\n"
        "    if isinstance(history, list):\n"
        "        history[:] = [pathlib.Path.cwd()]  # IPython's history_manager.reset()\n"
        f"_ainb_adopt({cwd!r}, {env!r}, {unset!r})\n"
        "del _ainb_adopt\n"
    )
