"""Our client to a started kernel: connected, read, answering, and closed again.

One long-lived jupyter_client client per kernel, driven through its public client
interface only (``kernel.client()`` is a ``GatewayKernelClient`` on a Kernel or
Enterprise Gateway), with an ``IopubReader`` on its channels. Shared by a project
kernel's start and restart (``kernels.py``) and by spare kernels (``spares.py``), so
that every kernel handed out was connected and found ready the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
from collections.abc import Callable
from typing import Any

from .iopub import ChannelClosed, IopubReader, KernelActivity
from .kernel_handle import KernelHandle, KernelStartError, kernel_pid
from .kernel_liveness import process_alive
from .session import LeanSession
from .widgets import OutputWidgets

READY_WAIT = 1.0  # seconds to wait for a kernel_info reply before asking again


async def open_client(
    km: Any, kernel_id: str, startup_timeout: float
) -> tuple[Any, IopubReader, int | None]:
    """Our client to a started kernel, its reader, and its process id (None for
    remote kernels), once the kernel answers on both channels."""
    kernel = km.get_kernel(kernel_id)
    # Our own Session (same key): a shared one would see each broadcast message twice
    # and refuse the second copy as a replay. Lean: no date parsing (session.py).
    session = LeanSession(key=kernel.session.key, signature_scheme=kernel.session.signature_scheme)
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
        await wait_ready(km, kernel_id, client, reader, startup_timeout)
    except BaseException:
        reader.stop(release=False)
        client.stop_channels()
        raise
    # Activity is ours from here: the readiness check is no activity (as in Jupyter).
    reader.activity = KernelActivity.take_over(km, kernel_id)
    return client, reader, kernel_pid(kernel)


async def wait_ready(
    km: Any, kernel_id: str, client: Any, reader: IopubReader, startup_timeout: float
) -> None:
    """Until the kernel answers ``kernel_info`` on shell and its status reaches us on
    iopub (so both channels are connected): ``wait_for_ready``'s steps, through our
    reader. ``KernelStartError`` if it dies or does not answer within the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + startup_timeout
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
        if not await process_alive(km, kernel_id):
            raise KernelStartError(f"kernel {kernel_id} died before it answered")
        if loop.time() > deadline:
            raise KernelStartError(f"kernel {kernel_id} did not answer in {startup_timeout:g} s")


def attach(
    handle: KernelHandle,
    client: Any,
    reader: IopubReader,
    pid: int | None,
    on_lost: Callable[[str], None],
) -> None:
    """Give the handle a connected client (a new kernel process): ``on_lost`` hears
    from the reader when the connection or the kernel goes away."""
    handle.pid = pid
    handle.remote = pid is None
    reader.on_lost = on_lost
    handle.client, handle.reader = client, reader
    handle.stopping = ""
    handle.widgets = OutputWidgets()  # a new process: no widgets yet


def retire(handle: KernelHandle, stopping: bool = False) -> None:
    """Close the handle's client. A runner waiting for messages is told the channel
    closed and reports the kernel's death or restart (runner.execute handles that).
    ``stopping``: the kernel is being shut down (Jupyter need not watch it again)."""
    reader, handle.reader = handle.reader, None
    if reader is not None:
        reader.stop(release=not stopping)
    client, handle.client = handle.client, None
    if client is not None:
        client.stop_channels()
