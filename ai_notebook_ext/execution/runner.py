"""Execute code in a project kernel: the request's iopub messages and shell reply, as the
client's reader (``iopub.py``) routes them by msg_id.

Sent with the client's public ``execute``; no ``execute_interactive``: this loop works the
same with local and Gateway kernels. It ends when the kernel goes idle for our request and
the shell reply has arrived, or with a clear outcome on timeout, cancellation or kernel
death.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .iopub import ChannelClosed, Mailbox
from .kernel_handle import KernelHandle
from .kernels import ProjectKernels
from .outputs import OutputCollector

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between liveness checks while the kernel is quiet
INTERRUPT_GRACE = 5.0  # seconds an interrupted request gets to finish before a restart
INTERRUPTED_REPLY_WAIT = 1.0  # the same, after we interrupted the request (see _Stopper)
REPLY_WAIT = 10.0
ABORTED = "the kernel aborted this request: a request before it failed"

OnOutput = Callable[[OutputCollector], Awaitable[None]]
OnSent = Callable[[], Awaitable[None]]


@dataclass
class ExecResult:
    """How an execution ended and what it produced."""

    status: str  # succeeded | failed | cancelled | aborted (by the kernel, never ran)
    outputs: list[dict[str, Any]]
    execution_count: int | None
    error: dict[str, Any] | None = None
    message: str = ""
    kernel_died: bool = False
    datasets: list[dict[str, Any]] = field(default_factory=list)  # ain's reports


async def _shell_reply(box: Mailbox, wait: float) -> dict[str, Any] | None:
    """The request's execute_reply (the reader routes it to its mailbox); None if none
    came within ``wait`` seconds or the channel closed (restart, shutdown)."""
    if box.reply.done():  # the usual case: ipykernel replies before it says idle
        return box.reply.result()  # (wait_for would still go once round the loop)
    try:
        return await asyncio.wait_for(box.reply, wait)
    except TimeoutError:
        return None


@dataclass
class Sent:
    """An execute request on its way: the kernel generation it went to, its msg_id and
    the mailbox its iopub messages and shell reply arrive in."""

    handle: KernelHandle
    generation: int
    msg_id: str
    box: Mailbox

    def close(self) -> None:
        """No more interest in its messages (the reader forgets a request by itself once
        the kernel is idle after it)."""
        if self.handle.reader is not None:
            self.handle.reader.unsubscribe(self.msg_id)


AFTER = "ai_notebook_after"  # request metadata: the msg_id this request is chained to


def send(handle: KernelHandle, code: str, silent: bool = False, after: str | None = None) -> Sent:
    """Send ``code`` to the kernel (no await: callers may do it inside a transaction).
    ``silent``: our own control code, kept out of the history and execution count.
    ``after``: a request sent earlier; the kernel aborts this one unless that one
    succeeded (kernel/chain.py; an ``aborted`` result)."""
    reader = handle.reader  # set and cleared together with the client
    if reader is None:
        raise ChannelClosed("not connected to the kernel")
    client = handle.client
    if after is None:
        msg_id = client.execute(
            code, silent=silent, store_history=not silent, allow_stdin=False, stop_on_error=True
        )
    else:  # KernelClient.execute takes no metadata: the same message, built with it
        content = {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = client.session.msg("execute_request", content, metadata={AFTER: after})
        client.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
    return Sent(handle, handle.generation, msg_id, reader.subscribe(msg_id))


async def execute(
    kernels: ProjectKernels,
    handle: KernelHandle,
    code: str,
    *,
    time_limit: float | None,
    cancel: asyncio.Event,
    on_output: OnOutput,
    on_sent: OnSent | None = None,
    sent: Sent | None = None,
    silent: bool = False,
) -> ExecResult:
    """Run ``code`` and collect its outputs; never raises for kernel-side problems.

    ``sent``: the request was already sent (``send``); only its results are collected.
    """
    collector = OutputCollector()
    result = await _execute(
        collector, kernels, handle, code, time_limit, cancel, on_output, on_sent, sent, silent
    )
    result.datasets = collector.datasets
    return result


async def _execute(
    collector: OutputCollector,
    kernels: ProjectKernels,
    handle: KernelHandle,
    code: str,
    time_limit: float | None,
    cancel: asyncio.Event,
    on_output: OnOutput,
    on_sent: OnSent | None,
    sent: Sent | None,
    silent: bool,
) -> ExecResult:
    if sent is None:
        if cancel.is_set():  # cancelled while the kernel was starting: never send the code
            return ExecResult("cancelled", [], None, message="cancelled before it started")
        sent = send(handle, code, silent)
        if on_sent is not None:
            await on_sent()
    box, generation = sent.box, sent.generation
    loop = asyncio.get_running_loop()
    deadline = None if not time_limit else loop.time() + time_limit
    stopper = _Stopper(kernels, handle)
    while True:
        if handle.stopping:
            return _shut_down(collector, handle.stopping)
        if handle.died.is_set() or handle.generation != generation:
            return _died(collector, handle.death_reason or "the kernel was restarted")
        now = loop.time()
        if cancel.is_set():
            stopper.want("cancelled", now)
        elif deadline is not None and now >= deadline:
            stopper.want("timeout", now)
        if await stopper.tick(now):
            # The code ignores SIGINT: only a restart stops it, and the state goes with it.
            await kernels.restart(handle.project_id, reason=f"{stopper.why}: interrupt ignored")
            return _stopped(collector, stopper.why, time_limit, restarted=True)
        wait = POLL
        if deadline is not None and not stopper.why:
            wait = max(0.01, min(POLL, deadline - now))
        try:
            msg = await box.get(timeout=wait)
        except queue.Empty:
            if not await kernels.is_alive(handle):
                kernels.mark_dead(handle, handle.death_reason or kernels.exit_reason(handle))
            continue
        except ChannelClosed as exc:  # our client closed (restart, shutdown) or broke
            if not (handle.died.is_set() or handle.generation != generation):
                kernels.mark_dead(handle, str(exc))
            continue  # the loop's first check reports it
        msg_type = msg["header"]["msg_type"]
        content = msg.get("content", {})
        if msg_type == "status" and content.get("execution_state") == "idle":
            break
        if msg_type == "execute_input" or (
            silent and msg_type == "status" and content.get("execution_state") == "busy"
        ):
            await stopper.begin(loop.time())
        if handle.widgets.capture(msg, handle.client):
            continue  # an Output widget's now (widgets.py)
        if collector.apply(msg_type, content):
            await on_output(collector)
    reply = await _shell_reply(box, INTERRUPTED_REPLY_WAIT if stopper.interrupted else REPLY_WAIT)
    reply_content = (reply or {}).get("content", {})
    if reply_content.get("execution_count") is not None:
        collector.execution_count = reply_content["execution_count"]
    if handle.stopping and reply_content.get("status") != "ok":
        return _shut_down(collector, handle.stopping)  # interrupted by the shutdown
    if stopper.why:
        return _stopped(collector, stopper.why, time_limit, restarted=False)
    if reply_content.get("status") == "aborted":  # never ran: an earlier request failed
        return ExecResult("aborted", collector.outputs, None, message=ABORTED)
    if reply_content.get("status") == "error" or collector.error is not None:
        error = collector.error or {
            "ename": reply_content.get("ename", "Error"),
            "evalue": reply_content.get("evalue", ""),
            "traceback": reply_content.get("traceback", []),
        }
        error = {**error, "reason": "error"}
        return ExecResult(
            "failed",
            collector.outputs,
            collector.execution_count,
            error=error,
            message=f"{error['ename']}: {error['evalue']}",
        )
    return ExecResult("succeeded", collector.outputs, collector.execution_count)


class _Stopper:
    """Interrupts a run that must stop (cancelled, timed out) at the right moment.

    ipykernel ignores SIGINT until it starts handling a request: an interrupt sent before
    is lost, or hits another client's code running first. So the interrupt waits until
    the kernel says it began ours (execute_input; busy for silent requests), at most
    INTERRUPT_GRACE; one sent before ours began is sent again when it begins. A run
    still going INTERRUPT_GRACE after its interrupt ignores it (``tick`` says so).
    ipykernel says a request began (execute_input) a moment before the code runs; an
    interrupt in between aborts the request without an execute_reply ("KeyboardInterrupt
    caught in kernel"): after an interrupt the reply is waited for only briefly.
    """

    def __init__(self, kernels: ProjectKernels, handle: KernelHandle) -> None:
        self.kernels = kernels
        self.handle = handle
        self.why = ""
        self.began = False
        self._wanted_at = 0.0
        self._sent_at: float | None = None
        self._sent_early = False

    def want(self, why: str, now: float) -> None:
        if not self.why:
            self.why, self._wanted_at = why, now

    async def tick(self, now: float) -> bool:
        """Interrupt if it is time; True once the interrupt has been ignored too long."""
        if not self.why:
            return False
        if self._sent_at is None:
            if self.began or now - self._wanted_at > INTERRUPT_GRACE:
                await self._send(now)
            return False
        return now - self._sent_at > INTERRUPT_GRACE

    @property
    def interrupted(self) -> bool:
        return self._sent_at is not None

    async def begin(self, now: float) -> None:
        """The kernel began our request."""
        if self.began:
            return
        self.began = True
        if self.why and (self._sent_at is None or self._sent_early):
            await self._send(now)

    async def _send(self, now: float) -> None:
        self._sent_at, self._sent_early = now, not self.began
        await self.kernels.interrupt(self.handle.project_id)


def _failed(
    collector: OutputCollector, ename: str, message: str, reason: str, kernel_died: bool = False
) -> ExecResult:
    """A run that failed for a reason of ours (not the code's own error)."""
    return ExecResult(
        "failed",
        collector.outputs,
        collector.execution_count,
        error={"ename": ename, "evalue": message, "traceback": [], "reason": reason},
        message=message,
        kernel_died=kernel_died,
    )


def _died(collector: OutputCollector, reason: str) -> ExecResult:
    message = (
        f"kernel died while running this block ({reason or 'no reason given'}); "
        "its state was lost and it is being restarted"
    )
    return _failed(collector, "KernelDied", message, "kernel_died", kernel_died=True)


def _shut_down(collector: OutputCollector, reason: str) -> ExecResult:
    message = f"the kernel was shut down while this block ran ({reason}); its state was lost"
    return _failed(collector, "KernelShutdown", message, "kernel")


def _stopped(
    collector: OutputCollector, why: str, time_limit: float | None, *, restarted: bool
) -> ExecResult:
    tail = "; the kernel ignored the interrupt and was restarted (state lost)" if restarted else ""
    if why == "timeout":
        message = f"timed out after {time_limit or 0:g} s{tail}"
        return _failed(collector, "TimeoutError", message, "timeout")
    return ExecResult(
        "cancelled",
        collector.outputs,
        collector.execution_count,
        message=f"cancelled while running{tail}",
    )
