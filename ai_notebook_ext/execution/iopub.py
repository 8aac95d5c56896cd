"""One reader of a project kernel's iopub channel: messages routed by request, activity recorded.

Our client reads every iopub message of the kernel anyway, so it does two jobs in one
decoding:

- it hands each message to the request waiting for it (by ``parent_header.msg_id``) and
  drops the rest (a console's messages, our silent setup code);
- it records the kernel's activity for Jupyter Server (``last_activity``,
  ``execution_state``: what ``/api/kernels`` shows and the idle culler reads), exactly as
  Jupyter's own activity tracker does. That tracker is a second iopub subscription that
  decodes every message again, dates included; while our reader runs, it is stopped, and it
  is started again when our client closes (``KernelActivity.release``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections import deque
from typing import Any

from ..store.types import utcnow

log = logging.getLogger(__name__)


class ChannelClosed(ConnectionError):
    """The client's iopub channel closed (restart, shutdown) or broke."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Mailbox:
    """The iopub messages of one request, in arrival order."""

    __slots__ = ("_error", "_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None

    def put(self, msg: dict[str, Any]) -> None:
        self._items.append(msg)
        if self._waiter is not None:
            _wake(self._waiter)

    def fail(self, error: Exception) -> None:
        """No more messages will come: ``get`` raises ``error`` once the box is empty."""
        self._error = error
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

    def __init__(self, km: Any, kernel_id: str) -> None:
        self.km = km
        self.kernel_id = kernel_id
        self.kernel = km.get_kernel(kernel_id)  # the same object across restarts

    @classmethod
    def take_over(cls, km: Any, kernel_id: str) -> KernelActivity | None:
        """Stop Jupyter's tracker of the kernel and record its activity ourselves; None
        (Jupyter's tracker stays) where the server's kernel manager has no such tracker
        (e.g. Gateway kernels) or a restart is waiting for it."""
        try:
            kernel = km.get_kernel(kernel_id)
            if (
                getattr(kernel, "_activity_stream", None) is None
                or getattr(kernel, "_pending_restart_cleanup", None) is not None
                or not hasattr(km, "track_message_type")
            ):
                return None
            km.stop_watching_activity(kernel_id)
        except Exception:  # an unusual kernel manager: leave Jupyter's tracker alone
            log.debug("ai_notebook_ext: keeping Jupyter's activity tracker", exc_info=True)
            return None
        return cls(km, kernel_id)

    def release(self) -> None:
        """Our client is closing: Jupyter's tracker watches the kernel again."""
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


class IopubReader:
    """Reads a client's iopub channel until it closes; see the module docstring."""

    def __init__(self, client: Any, activity: KernelActivity | None) -> None:
        self.client = client
        self.activity = activity
        self._boxes: dict[str, Mailbox] = {}
        self._task: asyncio.Future[None] | None = None
        self._closed: Exception | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def subscribe(self, msg_id: str) -> Mailbox:
        """The mailbox of a request just sent (subscribe before any await)."""
        box = Mailbox()
        if self._closed is not None:
            box.fail(self._closed)
        else:
            self._boxes[msg_id] = box
        return box

    def unsubscribe(self, msg_id: str) -> None:
        self._boxes.pop(msg_id, None)

    def stop(self, release: bool = True) -> None:
        """Stop reading (before the client's channels close); waiting requests are told.
        ``release``: Jupyter's tracker takes over again (not when the kernel is stopping)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if not release:
            self.activity = None
        self._end(ChannelClosed("the connection to the kernel was closed"))

    def _end(self, error: Exception) -> None:
        """No more reading: fail the waiting requests, give activity back to Jupyter."""
        if self._closed is None:
            self._closed = error
        boxes, self._boxes = self._boxes, {}
        for box in boxes.values():
            box.fail(error)
        activity, self.activity = self.activity, None
        if activity is not None:
            activity.release()

    async def _run(self) -> None:
        channel = self.client.iopub_channel
        while True:
            try:
                msg = await channel.get_msg()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stop() or the server stopping
                # The channel's socket closed under us (the client's channels stopped).
                self._end(ChannelClosed("the connection to the kernel was closed"))
                return
            except (ValueError, TypeError, KeyError) as exc:  # one bad message: skip it
                log.warning("ai_notebook_ext: dropped an undecodable kernel message: %s", exc)
                continue
            except Exception as exc:  # the channel broke
                log.warning("ai_notebook_ext: reading the kernel's messages failed: %s", exc)
                self._end(ChannelClosed(f"lost the connection to the kernel ({exc})"))
                return
            # Recorded before anyone waiting hears of it: whoever sees a request end (a
            # run finished, a restart's setup done) then reads the kernel state it left.
            if self.activity is not None:
                self.activity.record(msg)
            msg_id = (msg.get("parent_header") or {}).get("msg_id")
            box = self._boxes.get(msg_id) if msg_id else None
            if box is not None:
                box.put(msg)
                if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                    del self._boxes[msg_id]  # the request is done: nothing more will come
                # The request's runner takes the message first: it is on the request's
                # critical path, this task's next wait is not.
                await asyncio.sleep(0)
