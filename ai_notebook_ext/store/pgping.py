"""PostgreSQL connections are pinged before use only after they sat idle in the pool.

A server restart or failover drops PostgreSQL connections, so a pooled one may be dead
when it is checked out. SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more
round trip for each request and each run step, a third of a busy server's statements
(three of a block execution's eleven). Here a connection is pinged only when it was
idle for ``IDLE_BEFORE_PING`` seconds, as SQLAlchemy's documentation shows for custom
pessimistic disconnect handling: a dead one is replaced before the request uses it. A
connection dropped while in steady use fails the statement that finds it, which also
invalidates the pool's other connections of that age, as with ``pool_pre_ping``'s own
race between the ping and the statement.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

IDLE_BEFORE_PING = 5.0  # seconds
_RETURNED = "ai_notebook_returned_at"


def ping_when_idle(engine: AsyncEngine) -> None:
    """Install the checkin / checkout listeners on the engine's pool."""
    pool, dialect = engine.sync_engine.pool, engine.dialect

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < IDLE_BEFORE_PING:
            return  # new, or used a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc)) from exc  # the pool reconnects
            raise
        if not alive:
            raise DisconnectionError("the connection did not answer a ping")
