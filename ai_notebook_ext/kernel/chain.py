"""Chained execute requests: run one only if the request it follows succeeded.

A sequential pipeline sends the next block's ``execute_request`` while the current one
runs. ipykernel aborts the requests queued when a request fails (``stop_on_error``), but
only those that have arrived by then: one arriving a moment later would run. A request
whose metadata names the one it follows (``ai_notebook_after``: that request's msg_id)
is therefore aborted here, exactly as ipykernel aborts (an ``aborted`` reply), unless
that request finished successfully in this kernel process. Requests without the key are
untouched.
"""

from __future__ import annotations

from collections import deque
from typing import Any

AFTER = "ai_notebook_after"
REMEMBERED = 64  # successful requests remembered (a chain needs only the latest)


class ChainGuard:
    """Installed on the kernel through ipykernel's ``should_handle`` hook."""

    def __init__(self, kernel: Any, shell: Any) -> None:
        self.kernel = kernel
        self.succeeded: deque[str] = deque(maxlen=REMEMBERED)
        self.current: str | None = None
        self._should_handle = kernel.should_handle
        kernel.should_handle = self.should_handle
        shell.events.register("post_run_cell", self.post_run_cell)

    def should_handle(self, stream: Any, msg: dict[str, Any], idents: Any) -> Any:
        if msg.get("header", {}).get("msg_type") == "execute_request":
            after = (msg.get("metadata") or {}).get(AFTER)
            if after is not None and after not in self.succeeded:
                self.kernel._send_abort_reply(stream, msg, idents)
                return False
            self.current = msg["header"].get("msg_id")
        return self._should_handle(stream, msg, idents)

    def post_run_cell(self, result: Any) -> None:
        if self.current is not None and result is not None and result.success:
            self.succeeded.append(self.current)
        self.current = None


def install(shell: Any) -> ChainGuard | None:
    """Guard the shell's kernel (None outside a kernel, e.g. plain IPython)."""
    kernel = getattr(shell, "kernel", None)
    if not all(hasattr(kernel, a) for a in ("should_handle", "_send_abort_reply")):
        return None  # not an ipykernel kernel (or one too old for the hook)
    existing = getattr(kernel, "_ai_notebook_chain", None)
    if existing is not None:
        return existing
    guard = ChainGuard(kernel, shell)
    kernel._ai_notebook_chain = guard
    return guard
