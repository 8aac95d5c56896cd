"""PostgreSQL: a few connections kept in autocommit for hot reads, outside the pool.

Some reads run on every request and need no transaction of their own: the block list's
revision and role, a run's fingerprint (``Database.read``). Through SQLAlchemy each one
checks a connection out of the pool and back (greenlet hand-offs, pool events), turns
autocommit on and off, and opens a cursor: about 0.4 ms of a server's CPU for a one-row
SELECT. On a connection of its own, kept in autocommit with its cursor, the same read
costs about 0.13 ms. Each statement sees its own snapshot, as in autocommit anywhere.

Readers are opened on first use, up to ``size``; a reader PostgreSQL dropped (restart,
failover, idle timeout) is closed with the idle ones, and the read is tried once more on
a new connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

_pg_sql: dict[int, tuple[Select[Any], str, dict[str, Any]]] = {}

Query = tuple[Select[Any], Mapping[str, Any]]


def compiled(statement: Select[Any], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for psycopg and its bound literals, compiled once. Only for
    statements whose parameters and columns need no processing (integers, strings)."""
    entry = _pg_sql.get(id(statement))
    if entry is None or entry[0] is not statement:
        done = statement.compile(dialect=dialect)
        for bind in done.binds.values():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"parameter {bind.key!r} needs processing: not eligible")
        for column in statement.selected_columns:
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise TypeError(f"column {column.key!r} needs processing: not eligible")
        literals = {k: v for k, v in done.params.items() if v is not None}
        entry = _pg_sql[id(statement)] = (statement, done.string, literals)
    return entry[1], entry[2]


class _Reader:
    """One autocommit connection and its cursor."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cursor = connection.cursor()

    async def fetch(self, plans: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
        results = []
        for sql, values in plans:
            await self.cursor.execute(sql, values)
            results.append(list(await self.cursor.fetchall()))
        return results


class AutocommitReaders:
    """Hot SELECTs on up to ``size`` autocommit connections of their own, handed to
    waiting reads in arrival order (a read that arrives later never takes a connection
    before one that waits: that unfairness put seconds on the p99 under load)."""

    def __init__(self, engine: AsyncEngine, size: int = 4) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.size = size
        self._idle: list[_Reader] = []
        self._open = 0  # connections open or being opened, idle ones included
        # Waiting reads: each gets a reader, or None to open a new connection itself.
        self._waiting: deque[asyncio.Future[_Reader | None]] = deque()
        self._closed = False

    async def read(self, *queries: Query) -> list[list[tuple[Any, ...]]]:
        """The rows of each SELECT, each statement in its own snapshot."""
        plans = []
        for statement, params in queries:
            sql, literals = compiled(statement, self.dialect)
            plans.append((sql, {**literals, **params}))
        for attempt in (1, 2):
            reader = await self._take()
            try:
                results = await reader.fetch(plans)
            except self.dialect.loaded_dbapi.Error as error:
                broken = reader.connection.closed or reader.connection.broken
                await self._discard(reader)
                if broken and attempt == 1:
                    # Dropped by the server, and so were the idle ones, most likely (as
                    # SQLAlchemy's pool assumes): once more on a new connection.
                    await self._close_idle()
                    continue
                sql, values = plans[0]
                raise exc.DBAPIError.instance(
                    sql, values, error, self.dialect.loaded_dbapi.Error, dialect=self.dialect
                ) from error
            except BaseException:
                await self._discard(reader)  # cancelled mid-read: its state is unknown
                raise
            if self._closed:
                await self._discard(reader)
            else:
                self._give(reader)
            return results
        raise AssertionError("unreachable")

    async def _take(self) -> _Reader:
        if self._idle:
            return self._idle.pop()
        if self._open >= self.size:
            waiter: asyncio.Future[_Reader | None] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                reader = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over as it was cancelled
                    given = waiter.result()
                    if given is not None:
                        self._give(given)
                    else:
                        self._release_slot()
                raise
            if reader is not None:
                return reader
        else:
            self._open += 1  # the slot is ours: open a connection in it
        try:
            return _Reader(await self._connect())
        except BaseException:
            self._release_slot()
            raise

    async def _connect(self) -> Any:
        import psycopg  # only with PostgreSQL (the ``postgres`` extra)

        args, kwargs = self.dialect.create_connect_args(self.engine.url)
        return await psycopg.AsyncConnection.connect(*args, **kwargs, autocommit=True)

    def _give(self, reader: _Reader) -> None:
        """A reader back: to the longest waiting read, or idle."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(reader)
                return
        self._idle.append(reader)

    def _release_slot(self) -> None:
        """A connection slot freed: the longest waiting read opens a connection in it."""
        while self._waiting and not self._closed:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._open -= 1

    async def _discard(self, reader: _Reader) -> None:
        self._release_slot()
        await reader.connection.close()

    async def _close_idle(self) -> None:
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for reader in idle:
            await reader.connection.close()

    async def close(self) -> None:
        """Close the idle readers; readers in use close when they are given back."""
        self._closed = True
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(RuntimeError("the database is closed"))
        self._waiting.clear()
        await self._close_idle()
