"""The SQLite fast path of hot statements (store/fast.py) stores and reads exactly what
SQLAlchemy's own execution does: the same rows, timestamps, JSON and errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, delete, exc, func, insert, literal, select

from ai_notebook_ext.dag.service import GRAPH_BLOCKS, GRAPH_EDGES, block_fingerprint
from ai_notebook_ext.execution import statements as sql
from ai_notebook_ext.store import Database
from ai_notebook_ext.store.fast import FastResult, fast, is_fast
from ai_notebook_ext.store.models import Run


@pytest.fixture
def db(tmp_path, jp_asyncio_loop):
    database = Database(f"sqlite:///{tmp_path / 'fast.db'}")
    database.migrate()
    raw = sqlite3.connect(tmp_path / "fast.db")
    raw.execute("INSERT INTO users VALUES (1, 'ann', 'Ann', 'member', '2026-01-01 00:00:00')")
    raw.execute(
        "INSERT INTO projects (id, name, description, owner_id, created_at, updated_at, "
        "working_dir) VALUES (1, 'p', '', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', "
        "'work/p')"
    )
    raw.execute("INSERT INTO memberships VALUES (1, 1, 'editor', '2026-01-01 00:00:00')")
    raw.execute(
        "INSERT INTO blocks VALUES (1, 1, 0, 'code', 'x = 1', 3, '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00', 2.5, NULL)"
    )
    raw.commit()
    raw.close()
    yield database
    jp_asyncio_loop.run_until_complete(database.dispose())


async def new_run(db) -> int:
    started = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    values = {"project_id": 1, "block_id": 1, "user_id": 1, "status": "queued"}
    values |= {"source": "x = 1", "outputs": [], "message": "", "queued_at": started}
    async with db.connection() as conn:
        return (await conn.execute(sql.INSERT_RUN, values)).scalar_one()


async def read_run(db, run_id):
    async with db.session() as session:
        return await session.get(Run, run_id)


def finish_params(run_id, finished):
    return {
        "run_id": run_id,
        "status": "failed",
        "finished_at": finished,
        "message": "ValueError: ünïcode",
        "error": {"ename": "ValueError", "evalue": "ünïcode", "traceback": ["a", "b"]},
        "execution_count": 7,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "42\n"}],
        "generation": None,
        "fingerprint": "f" * 64,
    }


async def test_select_reads_what_sqlalchemy_reads(db):
    ids = {"block_id": 1, "project_id": 1, "user_id": 1}
    async with db.connection() as conn:
        result = await conn.execute(sql.BLOCK_FOR_RUN, ids)
        assert isinstance(result, FastResult)
        row = result.first()
        expected = conn.sync_connection.execute(sql.BLOCK_FOR_RUN, ids).first()
    assert tuple(row) == tuple(expected)
    assert (row.kind, row.source, row.version, row.role) == ("code", "x = 1", 3, "editor")
    assert row.timeout_seconds == 2.5
    assert row.working_dir == "work/p"
    async with db.connection() as conn:  # no membership: the outer join gives None
        other = (await conn.execute(sql.BLOCK_FOR_RUN, ids | {"user_id": 99})).first()
        missing = (await conn.execute(sql.BLOCK_FOR_RUN, ids | {"block_id": 5})).first()
    assert other.role is None
    assert missing is None


async def test_the_graph_reads_are_fast_and_keep_their_literal_filter(db):
    """A block's fingerprint reads the project's graph at every execute: fast, with the
    statement's own ``kind = 'code'`` (a literal, not a parameter of the call)."""
    raw = sqlite3.connect(db.url.database)
    raw.execute(
        "INSERT INTO blocks VALUES (2, 1, 1, 'markdown', '# x', 1, '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00', NULL, NULL)"
    )
    raw.commit()
    raw.close()
    async with db.connection() as conn:
        for statement in (GRAPH_BLOCKS, GRAPH_EDGES):
            result = await conn.execute(statement, {"project_id": 1})
            assert isinstance(result, FastResult)
            expected = conn.sync_connection.execute(statement, {"project_id": 1}).all()
            assert result.tuples() == [tuple(r) for r in expected]
    rows, edges = await db.read((GRAPH_BLOCKS, {"project_id": 1}), (GRAPH_EDGES, {"project_id": 1}))
    assert rows == [(1, "x = 1", 0)]
    assert edges == []
    assert await block_fingerprint(db, 1, 1, "x = 1") != await block_fingerprint(db, 1, 1, "x = 2")


async def test_updates_store_what_sqlalchemy_stores(db):
    finished = datetime(2026, 1, 2, 3, 4, 6, 1, tzinfo=timezone(timedelta(hours=2)))
    fast_id, slow_id = await new_run(db), await new_run(db)
    async with db.connection() as conn:
        assert (await conn.execute(sql.FINISH_RUN, finish_params(fast_id, finished))).rowcount == 1
        await conn.execute(sql.SET_LAST_RUN, {"block_id": 1, "run_id": fast_id})
        conn.sync_connection.execute(sql.FINISH_RUN, finish_params(slow_id, finished))
    fast_run, slow_run = await read_run(db, fast_id), await read_run(db, slow_id)
    for column in Run.__table__.columns:
        if column.key != "id":
            assert getattr(fast_run, column.key) == getattr(slow_run, column.key), column.key
    assert fast_run.finished_at == finished
    assert fast_run.finished_at.tzinfo is not None
    assert fast_run.error["evalue"] == "ünïcode"
    assert fast_run.kernel_generation is None
    # A finished run is not finished again (the status guard is a literal parameter).
    async with db.connection() as conn:
        again = await conn.execute(sql.FINISH_RUN, finish_params(fast_id, finished))
        assert again.rowcount == 0
    async with db.session() as session:
        block_last = await session.scalar(select(sql.blocks.c.last_run_id))
    assert block_last == fast_id


async def test_the_transaction_is_sqlalchemys(db):
    run_id = await new_run(db)

    async def write_then_fail():
        async with db.connection() as conn:
            await conn.execute(sql.SET_LAST_RUN, {"block_id": 1, "run_id": run_id})
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with db.session() as session:
        assert await session.scalar(select(sql.blocks.c.last_run_id)) is None


async def test_errors_are_sqlalchemy_errors(db):
    with pytest.raises(exc.IntegrityError):  # no run 404: the foreign key refuses it
        async with db.connection() as conn:
            await conn.execute(sql.SET_LAST_RUN, {"block_id": 1, "run_id": 404})
    with pytest.raises(exc.ArgumentError, match="run_id"):
        async with db.connection() as conn:
            await conn.execute(sql.SET_LAST_RUN, {"block_id": 1})


def test_only_eligible_statements_are_fast():
    assert is_fast(sql.FINISH_RUN)
    assert is_fast(sql.BLOCK_FOR_RUN)
    assert is_fast(sql.INSERT_RUN)
    assert not is_fast(sql.ARTIFACT_EXISTS)
    with pytest.raises(TypeError):
        fast(func.now())  # type: ignore[arg-type]


async def test_an_insert_stores_what_sqlalchemy_stores(db):
    """INSERT ... RETURNING on the fast path: the same row as SQLAlchemy's own execution,
    with the columns' scalar defaults filled in."""
    queued = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-3)))
    values = {"project_id": 1, "block_id": 1, "user_id": 1, "status": "queued"}
    values |= {"source": "x = 1", "outputs": [{"text": "ü"}], "message": "", "queued_at": queued}
    async with db.connection() as conn:
        result = await conn.execute(sql.INSERT_RUN, values)
        assert isinstance(result, FastResult)
        fast_id = result.scalar_one()
        slow_id = conn.sync_connection.execute(sql.INSERT_RUN, values).scalar_one()
    assert fast_id != slow_id
    fast_run, slow_run = await read_run(db, fast_id), await read_run(db, slow_id)
    for column in Run.__table__.columns:
        if column.key != "id":
            assert getattr(fast_run, column.key) == getattr(slow_run, column.key), column.key
    assert fast_run.queued_at == queued
    assert fast_run.outputs == [{"text": "ü"}]
    assert fast_run.kind == Run.__table__.c.kind.default.arg  # a scalar default, filled in


async def test_a_computed_default_must_be_given(db):
    """A column default the plan cannot fill in (``outputs``: a Python function) is
    refused before anything is written, not silently left to the database."""
    values = {"project_id": 1, "block_id": 1, "user_id": 1, "status": "queued"}
    values |= {"source": "x", "message": "", "queued_at": datetime(2026, 1, 2, tzinfo=UTC)}
    with pytest.raises(TypeError, match="outputs"):
        async with db.connection() as conn:
            await conn.execute(sql.INSERT_RUN, values)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(sql.runs)) == 0


@pytest.fixture
def pg_db(pg_server, jp_asyncio_loop):
    name = "t_fast_pg"
    database = Database(pg_server.create_database(name), pool_size=3)
    database.migrate()
    yield database
    jp_asyncio_loop.run_until_complete(database.dispose())
    pg_server.drop_database(name)


async def test_hot_reads_match_sqlalchemy_on_connections_of_their_own(pg_db, pg_server):
    """PostgreSQL's hot reads (``Database.read``, ``store/pgdirect.py``) give the rows
    SQLAlchemy gives, on at most ``size`` autocommit connections outside the pool, and a
    reader PostgreSQL dropped is replaced without failing the read."""
    import asyncio

    import psycopg

    from ai_notebook_ext.store.models import Block, Project, User

    engine = pg_db.engine
    async with engine.begin() as conn:
        await conn.execute(insert(User).values(id=1, username="ann", display_name="Ann"))
        await conn.execute(insert(Project).values(id=1, name="p", owner_id=1, working_dir="w/p"))
        for i in range(3):
            await conn.execute(
                insert(Block).values(project_id=1, position=i, kind="code", source=f"x = {i}")
            )
    stmt = (
        select(Block.id, Block.position, Block.version, Block.last_run_id)
        .where(Block.project_id == bindparam("project_id"))
        .order_by(Block.position)
    )
    # columns and parameters with processing (UTC timestamps) too
    stamped = select(Block.id, Block.created_at).where(Block.created_at < bindparam("t"))
    now = {"t": datetime.now(UTC)}
    async with engine.connect() as conn:
        expected = [tuple(r) for r in await conn.execute(stmt, {"project_id": 1})]
        with_times = [tuple(r) for r in await conn.execute(stamped, now)]
    assert len(expected) == 3
    assert with_times[0][1].tzinfo is not None
    readers = pg_db.direct
    many = await asyncio.gather(*(pg_db.read((stmt, {"project_id": 1})) for _ in range(12)))
    assert many == [[expected]] * 12
    assert 1 <= readers._open <= readers.size == 4
    # several statements on one connection; a literal in the statement is bound too
    code = stmt.where(Block.kind == "code")
    both = await pg_db.read((stmt, {"project_id": 1}), (code, {"project_id": 2}))
    assert both == [expected, []]
    assert engine.pool.checkedout() == 0  # the pool's connections were not used

    # PostgreSQL drops every reader (a restart, a failover): the next read still answers
    with psycopg.connect(pg_server.conninfo("t_fast_pg"), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 't_fast_pg' AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchall()
    assert killed
    assert await pg_db.read((stmt, {"project_id": 1})) == [expected]

    by_id = select(Block.id).where(Block.id == bindparam("x"))
    with pytest.raises(exc.ArgumentError):  # a parameter left out, as SQLAlchemy says
        await pg_db.read((by_id, {}))
    with pytest.raises(exc.DBAPIError):  # PostgreSQL refuses it
        await pg_db.read((by_id, {"x": "not a number"}))
    assert await pg_db.read((stmt, {"project_id": 1})) == [expected]  # still serving
    assert await pg_db.read((stamped, now)) == [with_times]
    # an error between statements (a 404 in the caller) leaves the connection usable
    idle = len(readers._idle)

    async def not_found() -> None:
        async with readers.connection() as conn:
            await conn.execute(stmt, {"project_id": 1})
            raise LookupError("block 9 not found")

    with pytest.raises(LookupError):
        await not_found()
    assert len(readers._idle) == idle
    await readers.close()
    assert readers._open == 0
    assert not readers._idle


async def test_hot_reads_get_connections_in_arrival_order(pg_db):
    """Reads waiting for a connection get one in the order they came: a read that comes
    later (here: the next one of a client reading in a loop) does not overtake them."""
    import asyncio

    from ai_notebook_ext.store.pgdirect import DirectConnections

    readers = DirectConnections(pg_db.engine, size=1)
    order: list[str] = []

    async def client(name: str) -> None:
        for _ in range(10):
            await readers.read((select(literal(1)), {}))
            order.append(name)

    try:
        await asyncio.gather(client("a"), client("b"), client("c"))
    finally:
        await readers.close()
    assert sorted(order) == ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    runs = "".join(order)
    for name in "abc":
        assert name * 2 not in runs, runs


async def test_a_snapshot_session_reads_one_state_of_the_database(pg_db):
    """Database.session(snapshot=True): later statements do not see a change committed
    after the first one (PostgreSQL's default would, statement by statement)."""
    from ai_notebook_ext.store.models import User

    async with pg_db.engine.begin() as conn:
        await conn.execute(insert(User).values(id=1, username="ann", display_name="Ann"))
    count = select(func.count()).select_from(User)
    for snapshot, expected in ((True, 1), (False, 2)):
        async with pg_db.session(snapshot=snapshot) as session:
            assert await session.scalar(count) == 1
            async with pg_db.engine.begin() as other:  # another request commits meanwhile
                await other.execute(insert(User).values(id=2, username="bob", display_name="Bob"))
            assert await session.scalar(count) == expected
        async with pg_db.engine.begin() as conn:
            await conn.execute(delete(User).where(User.id != 1))


async def test_an_idle_direct_connection_postgres_dropped_is_replaced(
    pg_db, pg_server, monkeypatch
):
    """A write through ``Database.autocommit`` (not retried) on PostgreSQL after the
    server dropped the idle connections (a restart, an idle timeout): the connection is
    pinged after sitting idle and replaced, and the write goes through."""
    import psycopg

    from ai_notebook_ext.store import pgdirect
    from ai_notebook_ext.store.models import User

    assert await pg_db.read((select(literal(1)), {})) == [[(1,)]]
    monkeypatch.setattr(pgdirect, "IDLE_BEFORE_PING", 0.0)
    with psycopg.connect(pg_server.conninfo("t_fast_pg"), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 't_fast_pg' AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
    async with pg_db.autocommit() as conn:
        values = {"username": "ann", "display_name": "Ann", "created_at": datetime.now(UTC)}
        await conn.execute(insert(User), values)
    rows = await pg_db.read((select(User.username), {}))
    assert rows == [[("ann",)]]
