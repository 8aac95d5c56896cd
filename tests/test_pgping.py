"""PostgreSQL connections idle in the pool are pinged before use (store/pgping.py):
after PostgreSQL drops them (restart, failover; here pg_terminate_backend), the next
request gets a new connection instead of an error. Connections used a moment ago are not
pinged: no extra round trip for a busy server."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import exc, text

from ai_notebook_ext.store import Database, pgping


@pytest.fixture
def pg_db(pg_server, jp_asyncio_loop):
    name = "t_ping_" + uuid.uuid4().hex[:8]
    database = Database(pg_server.create_database(name), pool_size=2)
    yield database, name
    jp_asyncio_loop.run_until_complete(database.dispose())
    pg_server.drop_database(name)


def drop_connections(pg_server, name: str) -> int:
    """What a PostgreSQL restart does to the database's connections; how many."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


async def backend_pid(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_an_idle_connection_dropped_by_postgres_is_replaced(pg_db, pg_server, monkeypatch):
    db, name = pg_db
    first = await backend_pid(db)
    assert drop_connections(pg_server, name) == 1
    monkeypatch.setattr(pgping, "IDLE_BEFORE_PING", 0.0)  # it has been idle long enough
    second = await backend_pid(db)
    assert second != first


async def test_a_connection_used_a_moment_ago_is_not_pinged(pg_db, pg_server, monkeypatch):
    """The trade-off, shown: without the ping, the statement finds the dead connection
    (an error, as pool_pre_ping's own race would give), and the pool then reconnects."""
    db, name = pg_db
    monkeypatch.setattr(pgping, "IDLE_BEFORE_PING", 3600.0)
    first = await backend_pid(db)
    assert drop_connections(pg_server, name) == 1
    with pytest.raises(exc.DBAPIError):
        await backend_pid(db)
    assert await backend_pid(db) != first
