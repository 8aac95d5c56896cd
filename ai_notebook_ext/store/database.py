"""Async engine, sessions and schema migrations for the store.

SQLite (WAL mode) is the default and runs inline on the event loop (see ``inline.py``);
PostgreSQL goes through psycopg 3's asyncio support.
Migrations run synchronously at startup, before the server takes requests, so a
database that cannot be brought to the current schema stops the server with a clear
message instead of failing later on some request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import sessionmaker

from .fast import FastResult
from .inline import InlineConnection, InlineSession
from .pgdirect import DirectConnections, Query
from .pgping import ping_when_idle

if TYPE_CHECKING:  # Alembic loads only to migrate (see ai_notebook_ext.startup)
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS = "ai_notebook_ext.store:migrations"

PG_POOL_SIZE = 32  # PostgreSQL connections a server keeps open (a quarter more in bursts)

_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


class DatabaseConfigError(ValueError):
    """The configured database URL names a backend or driver we do not support."""


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in _SYNC_DRIVERS:
        raise DatabaseConfigError(
            f"unsupported database URL {url.render_as_string(hide_password=True)!r}: "
            "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
        )
    return backend


def driver_url(url: str | URL) -> URL:
    """The URL with the driver we use for its backend: pysqlite, or psycopg 3 (whose
    asyncio mode SQLAlchemy picks for an async engine)."""
    parsed = make_url(url)
    return parsed.set(drivername=_SYNC_DRIVERS[_backend(parsed)])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _prepare_sqlite_file(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def alembic_config(connection: Any = None) -> AlembicConfig:
    """An Alembic configuration pointing at our migrations (no alembic.ini needed)."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", MIGRATIONS)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def make_sync_engine(url: str | URL) -> Engine:
    """A short-lived sync engine (migrations, tests, CLI)."""
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed)
    engine = create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest schema)."""
    from alembic import command

    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name != "sqlite":
                with connection.begin():
                    command.upgrade(alembic_config(connection), revision)
                return
            # SQLite's table rebuilds (migration 0010) drop and recreate parent tables:
            # with foreign keys on, the DROP would cascade into the children. SQLite's own
            # procedure: foreign keys off (outside a transaction), rebuild, check, on.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            try:
                with connection.begin():
                    command.upgrade(alembic_config(connection), revision)
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    finally:
        engine.dispose()


class Database:
    """The engine and session factory of one configured database.

    ``session()`` yields an AsyncSession (PostgreSQL) or an InlineSession with the same
    interface (SQLite); services do not need to know which.
    """

    def __init__(
        self, url: str | URL, *, echo: bool = False, pool_size: int = PG_POOL_SIZE
    ) -> None:
        self.url = driver_url(url)
        self.backend = self.url.get_backend_name()
        self.engine: AsyncEngine | None = None
        if self.backend == "sqlite":
            self.sync_engine: Engine | None = make_sync_engine(self.url)
            self._sync_sessions = sessionmaker(self.sync_engine, expire_on_commit=False)
            self._inline: Connection | None = None
        else:
            # A server restart or failover drops PostgreSQL connections: the ones idle a
            # while are pinged before use (pgping.py). Pool: overflow connections are
            # closed on return, so a pool smaller than the concurrent requests opens (and
            # PostgreSQL forks) a connection for many of them: with 20 and 32 clients
            # listing blocks, that was the p99's tail.
            self.sync_engine = None
            self.engine = create_async_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=max(1, pool_size // 4),
            )
            ping_when_idle(self.engine)
            self.direct = DirectConnections(self.engine)
            self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for logs."""
        return self.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Apply pending migrations (sync; called once at startup)."""
        log.info("ai_notebook_ext: migrating database %s to head", self.display_url)
        upgrade(self.url)

    @asynccontextmanager
    async def session(self, *, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error.

        ``snapshot``: every statement sees the database as of the first one (PostgreSQL's
        REPEATABLE READ; its default READ COMMITTED takes a new snapshot per statement),
        for reads of several tables that must agree. An inline SQLite session always
        does: it runs without letting other work in."""
        if self.sync_engine is not None:
            with self._sync_sessions() as sync, sync.begin():
                yield InlineSession(sync)  # type: ignore[misc]
            return
        async with self.sessionmaker() as session, session.begin():
            if snapshot:
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    async def read(self, *queries: Query) -> list[list[tuple[Any, ...]]]:
        """The rows of each Core SELECT, as plain tuples, for hot reads that need no
        transaction of their own: on SQLite the kept connection (``fast`` statements on
        its cursor), on PostgreSQL connections kept in autocommit (``pgdirect.py``)."""
        if self.engine is not None:
            return await self.direct.read(*queries)
        results = []
        async with self.connection() as conn:
            for statement, params in queries:
                result = await conn.execute(statement, params)
                fast = isinstance(result, FastResult)
                results.append(result.tuples() if fast else [tuple(r) for r in result])
        return results

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A bare connection in a transaction, for Core statements on hot paths (no ORM
        session); ``await conn.execute(stmt, params)`` works on both backends."""
        if self.sync_engine is not None:
            inline = self._inline_connection()
            if inline is None:  # another transaction is open on it (its owner awaited)
                with self.sync_engine.begin() as sync:
                    yield InlineConnection(sync)
                return
            with inline.begin():
                yield InlineConnection(inline)
            return
        assert self.engine is not None
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Any]:
        """A connection for hot statements that need no transaction around them (a run's
        row written when it is submitted, when it starts, when it ends): on PostgreSQL
        each statement commits on its own, on a connection kept in autocommit
        (``pgdirect.py``: no BEGIN and COMMIT round trips, no SQLAlchemy execution
        context); on SQLite, ``connection()`` (one transaction, inline)."""
        if self.engine is None:
            async with self.connection() as conn:
                yield conn
            return
        async with self.direct.connection() as conn:
            yield conn

    def _inline_connection(self) -> Connection | None:
        """One connection kept for ``connection()`` on SQLite, or None while it is in use.

        Checking a connection out of the pool and back costs about as much as the statement
        itself; the hot path makes three transactions per execute.
        """
        assert self.sync_engine is not None
        if self._inline is None or self._inline.closed or self._inline.invalidated:
            self._inline = self.sync_engine.connect()
        return None if self._inline.in_transaction() else self._inline

    async def dispose(self) -> None:
        """Close all pooled connections."""
        if self.engine is not None:
            await self.direct.close()
            await self.engine.dispose()
        if self.sync_engine is not None:
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            self.sync_engine.dispose()
