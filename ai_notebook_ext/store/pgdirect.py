"""PostgreSQL: a few connections kept in autocommit for hot statements, outside the pool.

Some statements run on every request or every block run and need no transaction around
them: the block list's state, a run's fingerprint (``Database.read``), a run's row when
it is submitted and when it ends (``Database.autocommit``). Through SQLAlchemy's async
engine each transaction checks a connection out of the pool (greenlet hand-offs, pool
events) and costs BEGIN and COMMIT round trips; each statement builds an execution
context. Here a statement is compiled once by SQLAlchemy (its SQL, its bind and result
processing: JSON, UTC timestamps) and run on a psycopg connection of its own, kept in
autocommit with its cursor: a one-row read costs about 0.13 ms of a server's CPU instead
of 0.4, a two-statement transaction's worth 0.6 instead of 1.3. Each statement commits
on its own and sees its own snapshot.

Connections are opened on first use, up to ``size``, and handed to waiting callers in
arrival order. One that sat idle for ``IDLE_BEFORE_PING`` seconds is pinged before use
and replaced if PostgreSQL dropped it (restart, failover, idle timeout), as the pool's
are (``pgping.py``). One dropped while in use fails its statement, and the idle ones are
closed with it; a read is then tried once more on a new connection (a write is not: the
caller gets the error).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from .fast import plan
from .pgping import IDLE_BEFORE_PING

Query = tuple[Select[Any], Mapping[str, Any]]


class DirectResult:
    """The part of a CursorResult the hot paths use."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar_one(self) -> Any:
        if not self.rows:
            raise exc.NoResultFound("no row was found when one was required")
        if len(self.rows) > 1:
            raise exc.MultipleResultsFound("multiple rows were found when one was required")
        return self.rows[0][0]

    def tuples(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.rows]


class DirectConnection:
    """One autocommit psycopg connection and its cursor."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.dialect = dialect
        self.busy = False  # inside a statement: left there by a cancel, its state is unknown
        self.returned = time.monotonic()  # when it was last given back

    async def alive(self) -> bool:
        """False if PostgreSQL dropped it while it sat idle for a while (a restart, a
        failover, an idle timeout): pinged then, as ``pgping.py`` does for the pool."""
        if time.monotonic() - self.returned < IDLE_BEFORE_PING:
            return True
        try:
            await self.cursor.execute("SELECT 1")
        except self.dialect.loaded_dbapi.Error:
            return False
        return True

    async def execute(self, statement: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Run one Core statement (committed on its own); SQLAlchemy's errors."""
        compiled = plan(statement, params or {}, self.dialect)
        values = compiled.values(params or {})
        self.busy = True
        try:
            await self.cursor.execute(compiled.sql, values)
            raw = await self.cursor.fetchall() if compiled.row is not None else []
        except self.dialect.loaded_dbapi.Error as error:
            self.busy = False  # the statement ended, with an error
            raise exc.DBAPIError.instance(
                compiled.sql, values, error, self.dialect.loaded_dbapi.Error, dialect=self.dialect
            ) from error
        self.busy = False
        rows = []
        if raw:
            processors = compiled.processors(self.cursor.description)
            make = compiled.row
            assert make is not None
            rows = [
                make(*(p(v) if p else v for p, v in zip(processors, r, strict=True))) for r in raw
            ]
        return DirectResult(rows, self.cursor.rowcount)

    @property
    def broken(self) -> bool:
        return bool(self.connection.closed or self.connection.broken)


class DirectConnections:
    """Up to ``size`` autocommit connections of their own, handed to waiting callers in
    arrival order (a caller that arrives later never takes a connection before one that
    waits: that unfairness put seconds on the p99 under load)."""

    def __init__(self, engine: AsyncEngine, size: int = 4) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.size = size
        self._idle: list[DirectConnection] = []
        self._open = 0  # connections open or being opened, idle ones included
        # Waiting callers: each gets a connection, or None to open a new one itself.
        self._waiting: deque[asyncio.Future[DirectConnection | None]] = deque()
        self._closed = False

    async def read(self, *queries: Query) -> list[list[tuple[Any, ...]]]:
        """The rows of each SELECT as plain tuples, each statement in its own snapshot."""
        for attempt in (1, 2):
            try:
                async with self.connection() as conn:
                    return [(await conn.execute(s, p)).tuples() for s, p in queries]
            except exc.DBAPIError as error:
                if not (error.connection_invalidated and attempt == 1):
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[DirectConnection]:
        """A connection for a few statements, given back after (an error between or in
        statements leaves it usable: each one commits on its own); closed if the server
        dropped it or a cancel left it inside a statement."""
        conn = await self._take()
        try:
            yield conn
        except BaseException as error:
            if conn.broken:  # dropped by the server: so were the idle ones, most likely
                if isinstance(error, exc.DBAPIError):
                    error.connection_invalidated = True
                await self._discard(conn)
                await self._close_idle()
            elif conn.busy or self._closed:
                await self._discard(conn)
            else:
                self._give(conn)
            raise
        if self._closed:
            await self._discard(conn)
        else:
            self._give(conn)

    async def _take(self) -> DirectConnection:
        while self._idle:
            conn = self._idle.pop()
            try:
                alive = await conn.alive()
            except BaseException:  # cancelled during the ping: its state is unknown
                await self._discard(conn)
                raise
            if alive:
                return conn
            self._open -= 1  # dead: its slot is ours, for a new connection below
            await conn.connection.close()
            if self._open < self.size:
                break
        if self._open >= self.size:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[DirectConnection | None] = loop.create_future()
            self._waiting.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over as it was cancelled
                    given = waiter.result()
                    if given is not None:
                        self._give(given)
                    else:
                        self._release_slot()
                raise
            if conn is not None:
                return conn
        else:
            self._open += 1  # the slot is ours: open a connection in it
        try:
            return DirectConnection(await self._connect(), self.dialect)
        except BaseException:
            self._release_slot()
            raise

    async def _connect(self) -> Any:
        import psycopg  # only with PostgreSQL (the ``postgres`` extra)

        args, kwargs = self.dialect.create_connect_args(self.engine.url)
        return await psycopg.AsyncConnection.connect(*args, **kwargs, autocommit=True)

    def _give(self, conn: DirectConnection) -> None:
        """A connection back: to the longest waiting caller, or idle."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.returned = time.monotonic()
        self._idle.append(conn)

    def _release_slot(self) -> None:
        """A connection slot freed: the longest waiting caller opens a connection in it."""
        while self._waiting and not self._closed:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._open -= 1

    async def _discard(self, conn: DirectConnection) -> None:
        self._release_slot()
        await conn.connection.close()

    async def _close_idle(self) -> None:
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for conn in idle:
            await conn.connection.close()

    async def close(self) -> None:
        """Close the idle connections; connections in use close when they are given back."""
        self._closed = True
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(RuntimeError("the database is closed"))
        self._waiting.clear()
        await self._close_idle()
