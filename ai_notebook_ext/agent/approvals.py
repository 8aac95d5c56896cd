"""What waits for the user's approval, and the waiting itself.

``ask``: every write and run waits; ``auto``: writes and runs go ahead, destructive
actions (deleting blocks, restarting the kernel) still ask; ``full``: nothing asks.
Reads never ask. A pending approval is a future the turn awaits; the REST API resolves it.
"""

from __future__ import annotations

import asyncio

ASKS = {
    "ask": {"write", "run", "destructive"},
    "auto": {"destructive"},
    "full": set(),
}


def needs_approval(mode: str, kind: str) -> bool:
    """Whether a tool of ``kind`` waits for approval in ``mode``."""
    return kind in ASKS.get(mode, ASKS["ask"])


class Waiting:
    """Approvals being waited for in this server: approval id -> future of the answer."""

    def __init__(self) -> None:
        self._futures: dict[int, asyncio.Future[bool]] = {}

    def expect(self, approval_id: int) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._futures[approval_id] = future
        return future

    def pending(self, approval_id: int) -> bool:
        future = self._futures.get(approval_id)
        return future is not None and not future.done()

    def answer(self, approval_id: int, approve: bool) -> bool:
        """Resolve an approval; False if nothing waits for it (any more)."""
        future = self._futures.pop(approval_id, None)
        if future is None or future.done():
            return False
        future.set_result(approve)
        return True

    def forget(self, approval_id: int) -> None:
        future = self._futures.pop(approval_id, None)
        if future is not None and not future.done():
            future.cancel()
