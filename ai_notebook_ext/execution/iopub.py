"""One reader of a project kernel's client: messages routed by request, activity recorded.

The reader uses jupyter_client's public client interface only (``get_iopub_msg``,
``get_shell_msg``), so the same code reads a local kernel's ZMQ client and Jupyter
Server's ``GatewayKernelClient`` (a websocket to a Kernel or Enterprise Gateway). It does
three jobs in one pass over the messages:

- it hands each iopub message to the request waiting for it (by ``parent_header.msg_id``)
  and each shell reply to its request's mailbox, and drops the rest (a console's
  messages, replies nobody waits for);
- it records the kernel's activity for Jupyter Server (``last_activity``,
  ``execution_state``: what ``/api/kernels`` shows and the idle culler reads), exactly as
  Jupyter's own activity tracker does. For local kernels that tracker is a second iopub
  subscription decoding every message again; while our reader runs it is stopped, and it
  is started again when our client closes (``KernelActivity.release``). Gateway kernels
  have no such tracker: we keep their state current from the same messages;
- it hears a gateway say the kernel died (``status: restarting`` or ``dead``, which the
  gateway sends on iopub when its restarter acts) and reports it (``on_lost``).

How it waits: jupyter_client's ZMQ channels wait on their sockets, so one task per
channel blocks in ``get_*_msg(timeout=None)`` (after a message, ``timeout=0`` first).
``GatewayKernelClient``'s channels are queues whose ``get_msg`` busy-waits
(``asyncio.sleep(0)`` in a loop) for the whole timeout, so for them one task asks with
``timeout=0`` and spaces its asks: at once while a request has just been sent or a
message just came, then backing off to a few milliseconds while requests are pending
and to ``POLL_IDLE`` when none is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_server.gateway.managers import GatewayKernelManager

from ..store.types import utcnow

log = logging.getLogger(__name__)

SPIN = 0.015  # seconds of asking without pause after a send or a message (polled clients)
POLL_BUSY = 0.004  # longest pause between asks while requests are pending (polled clients)
POLL_IDLE = 0.1  # pause between asks while no request is pending (polled clients)
# The shell socket is also sent on (the next request goes out while a reply may be
# arriving, as pipelines send ahead). ZMQ signals readiness by an edge on its file
# descriptor, and a send on the socket can consume the edge of a reply arriving at that
# moment, leaving a wait without a timeout asleep with the reply in the socket (seen:
# a pipeline stuck with every reply after one unread). So the shell reader never waits
# longer than this before asking the socket again. iopub is only received on.
SHELL_RECHECK = 0.05
LOST_STATES = {
    "restarting": "the kernel died and the gateway restarted it",
    "dead": "the kernel died and the gateway could not restart it",
}

OnLost = Callable[[str], None]


class ChannelClosed(ConnectionError):
    """The client's channels closed (restart, shutdown), broke, or the kernel died."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def channels_wait(client: Any) -> bool:
    """Whether the client's ``get_*_msg`` waits without using the CPU (jupyter_client's
    ZMQ channels do; ``GatewayKernelClient``'s queues busy-wait)."""
    return isinstance(client.iopub_channel, AsyncZMQSocketChannel)


class Mailbox:
    """The iopub messages of one request, in arrival order, and its shell reply."""

    __slots__ = ("_error", "_items", "_waiter", "reply")

    def __init__(self) -> None:
        self._items: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        # The execute_reply; None if the channel closed before it came.
        self.reply: asyncio.Future[dict[str, Any] | None] = (
            asyncio.get_running_loop().create_future()
        )

    def put(self, msg: dict[str, Any]) -> None:
        self._items.append(msg)
        if self._waiter is not None:
            _wake(self._waiter)

    def answer(self, msg: dict[str, Any] | None) -> None:
        if not self.reply.done():
            self.reply.set_result(msg)

    def fail(self, error: Exception) -> None:
        """No more messages will come: ``get`` raises ``error`` once the box is empty."""
        self._error = error
        self.answer(None)
        if self._waiter is not None:
            _wake(self._waiter)

    async def get(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """The next message; ``queue.Empty`` after ``timeout`` seconds without one (as
        jupyter_client's ``get_iopub_msg``), the channel's error once it has closed."""
        if not self._items and self._error is None:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._items:
            return self._items.popleft()
        if self._error is not None:
            raise self._error
        raise queue.Empty


class KernelActivity:
    """Jupyter Server's activity record of one kernel, kept from the messages we read.

    The same rules as ``MappingKernelManager.start_watching_activity``: activity is any
    message of a tracked type (or any while busy); ``execution_state`` follows status
    messages answering tracked requests.
    """

    def __init__(self, km: Any, kernel_id: str, owned: bool = True) -> None:
        self.km = km
        self.kernel_id = kernel_id
        self.kernel = km.get_kernel(kernel_id)  # the same object across restarts
        self.owned = owned  # we stopped Jupyter's tracker and start it again on release

    @classmethod
    def take_over(cls, km: Any, kernel_id: str) -> KernelActivity | None:
        """Stop Jupyter's tracker of the kernel and record its activity ourselves. Gateway
        kernels have no tracker: recorded without taking over. None (Jupyter's tracker
        stays) where a restart is waiting for the tracker or the kernel manager is an
        unusual one."""
        try:
            kernel = km.get_kernel(kernel_id)
            if not hasattr(km, "track_message_type"):
                return None
            if isinstance(kernel, GatewayKernelManager):
                return cls(km, kernel_id, owned=False)
            if (
                getattr(kernel, "_activity_stream", None) is None
                or getattr(kernel, "_pending_restart_cleanup", None) is not None
            ):
                return None
            km.stop_watching_activity(kernel_id)
        except Exception:  # an unusual kernel manager: leave Jupyter's tracker alone
            log.debug("ai_notebook_ext: keeping Jupyter's activity tracker", exc_info=True)
            return None
        # Our client saw the kernel answer and go idle; Jupyter's tracker may not have
        # read those messages yet when it stopped, and nothing else may come (a spare):
        # "starting" would stay in /api/kernels. Jupyter's own rule: idle once past it.
        if getattr(kernel, "execution_state", None) == "starting":
            kernel.execution_state = "idle"
        return cls(km, kernel_id)

    def release(self) -> None:
        """Our client is closing: Jupyter's tracker watches the kernel again."""
        if not self.owned:
            return
        try:
            if self.kernel_id in self.km:
                self.km.start_watching_activity(self.kernel_id)
        except Exception:
            log.warning("ai_notebook_ext: restarting Jupyter's activity tracker", exc_info=True)

    def record(self, msg: dict[str, Any]) -> None:
        kernel, km = self.kernel, self.km
        msg_type = msg["msg_type"]
        parent_type = (msg.get("parent_header") or {}).get("msg_type")
        state = getattr(kernel, "execution_state", None)
        if km.track_message_type(msg_type) or km.track_message_type(parent_type) or state == "busy":
            km.last_kernel_activity = kernel.last_activity = utcnow()
        if msg_type == "status":
            new_state = (msg.get("content") or {}).get("execution_state")
            if km.track_message_type(parent_type):
                kernel.execution_state = new_state
            elif state == "starting" and new_state != "starting":
                kernel.execution_state = "idle"


Getter = Callable[..., Awaitable[dict[str, Any]]]


class IopubReader:
    """Reads a client's iopub and shell channels until they close; see the module
    docstring. ``on_lost(reason)``: the gateway said the kernel died."""

    def __init__(
        self, client: Any, activity: KernelActivity | None, on_lost: OnLost | None = None
    ) -> None:
        self.client = client
        self.activity = activity
        self.on_lost = on_lost
        self._boxes: dict[str, Mailbox] = {}  # requests whose iopub messages may still come
        self._replies: dict[str, Mailbox] = {}  # requests whose shell reply may still come
        self._tasks: list[asyncio.Future[None]] = []
        self._closed: Exception | None = None
        self._nudge = asyncio.Event()  # a request was sent: ask the queues at once

    def start(self) -> None:
        client = self.client
        if channels_wait(client):
            self._tasks = [
                asyncio.ensure_future(self._pump(client.get_iopub_msg, self._on_iopub)),
                asyncio.ensure_future(
                    self._pump(client.get_shell_msg, self._on_shell, SHELL_RECHECK)
                ),
            ]
        else:
            self._tasks = [asyncio.ensure_future(self._poll())]

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def subscribe(self, msg_id: str) -> Mailbox:
        """The mailbox of a request just sent (subscribe before any await)."""
        box = Mailbox()
        if self._closed is not None:
            box.fail(self._closed)
        else:
            self._boxes[msg_id] = self._replies[msg_id] = box
            self._nudge.set()
        return box

    def unsubscribe(self, msg_id: str) -> None:
        self._boxes.pop(msg_id, None)
        box = self._replies.pop(msg_id, None)
        if box is not None:
            box.answer(None)

    def stop(self, release: bool = True) -> None:
        """Stop reading (before the client's channels close); waiting requests are told.
        ``release``: Jupyter's tracker takes over again (not when the kernel is stopping)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if not release:
            self.activity = None
        self._end(ChannelClosed("the connection to the kernel was closed"))

    def _end(self, error: Exception) -> None:
        """No more reading: fail the waiting requests, give activity back to Jupyter."""
        if self._closed is None:
            self._closed = error
        current = asyncio.current_task()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            if task is not current:
                task.cancel()
        boxes, self._boxes = self._boxes, {}
        replies, self._replies = self._replies, {}
        for box in (*boxes.values(), *replies.values()):
            box.fail(error)
        activity, self.activity = self.activity, None
        if activity is not None:
            activity.release()

    async def _on_iopub(self, msg: dict[str, Any]) -> bool:
        """Route one iopub message; False once the kernel is known lost."""
        # Recorded before anyone waiting hears of it: whoever sees a request end (a
        # run finished, a restart's setup done) then reads the kernel state it left.
        if self.activity is not None:
            self.activity.record(msg)
        msg_type = msg["msg_type"]
        content = msg.get("content") or {}
        parent_id = (msg.get("parent_header") or {}).get("msg_id")
        if msg_type == "status" and not parent_id:
            reason = LOST_STATES.get(content.get("execution_state", ""))
            if reason is not None:  # a gateway's word: the kernel we talked to is gone
                if self.on_lost is not None:
                    self.on_lost(reason)
                self._end(ChannelClosed(reason))
                return False
        box = self._boxes.get(parent_id) if parent_id else None
        if box is not None:
            box.put(msg)
            if msg_type == "status" and content.get("execution_state") == "idle":
                del self._boxes[parent_id]  # the request is done: nothing more will come
            # The request's runner takes the message first: it is on the request's
            # critical path, this task's next wait is not.
            await asyncio.sleep(0)
        return True

    async def _on_shell(self, msg: dict[str, Any]) -> bool:
        parent_id = (msg.get("parent_header") or {}).get("msg_id")
        box = self._replies.pop(parent_id, None) if parent_id else None
        if box is not None:
            box.answer(msg)
        return True

    async def _pump(
        self,
        get: Getter,
        route: Callable[[dict[str, Any]], Awaitable[bool]],
        recheck: float | None = None,
    ) -> None:
        """Read one channel whose ``get`` waits on its socket, until it closes. After a
        message the next one is often waiting already (idle after busy, the reply after
        the result): ``timeout=0`` takes it without waiting for the event loop's poll.
        ``recheck``: the longest wait before the socket is asked again (see
        SHELL_RECHECK)."""
        eager = False
        while True:
            try:
                msg = await get(timeout=0 if eager else recheck)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stop() or the server stopping
                # The channel's socket closed under us (the client's channels stopped).
                self._end(ChannelClosed("the connection to the kernel was closed"))
                return
            except queue.Empty:
                eager = False
                continue
            except (ValueError, TypeError, KeyError) as exc:  # one bad message: skip it
                log.warning("ai_notebook_ext: dropped an undecodable kernel message: %s", exc)
                continue
            except Exception as exc:  # the channel broke
                log.warning("ai_notebook_ext: reading the kernel's messages failed: %s", exc)
                self._end(ChannelClosed(f"lost the connection to the kernel ({exc})"))
                return
            if not await route(msg):
                return
            eager = True

    async def _poll(self) -> None:
        """Read both channels of a client whose ``get`` busy-waits (see module docstring)."""
        client, loop = self.client, asyncio.get_running_loop()
        channels = ((client.get_iopub_msg, self._on_iopub), (client.get_shell_msg, self._on_shell))
        last = loop.time()
        pause = 0.0
        while True:
            got = False
            for get, route in channels:
                try:
                    msg = await get(timeout=0)
                except queue.Empty:
                    continue
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("ai_notebook_ext: dropped an undecodable kernel message: %s", exc)
                    continue
                except Exception as exc:  # the websocket closed ("Response router had finished")
                    self._end(ChannelClosed(f"lost the connection to the kernel ({exc})"))
                    return
                got = True
                if not await route(msg):
                    return
            now = loop.time()
            if got or self._nudge.is_set():
                self._nudge.clear()
                last, pause = now, 0.0
            pending = bool(self._boxes or self._replies)
            if pending and now - last < SPIN:
                await asyncio.sleep(0)
                continue
            pause = min(max(pause * 2, 0.001), POLL_BUSY) if pending else POLL_IDLE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), pause)
