"""Per-project run leases, server heartbeats and the sweep of dead servers' runs, on the
database directly (SQLite and PostgreSQL): two servers are two registries and lease
holders with their own connection pools."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from ai_notebook_ext.execution.queue import ProjectQueues
from ai_notebook_ext.execution.recovery import INTERRUPTED, others_alive, recover
from ai_notebook_ext.servers.leases import ProjectLeases
from ai_notebook_ext.servers.registry import ServerRegistry
from ai_notebook_ext.store import Database
from ai_notebook_ext.store.database import make_sync_engine
from ai_notebook_ext.store.models import Block, Membership, Project, Run, User
from ai_notebook_ext.store.server_models import ProjectLease, ServerRow
from ai_notebook_ext.store.types import utcnow


@pytest.fixture
def two(db_url, jp_asyncio_loop):
    """Two database handles on one migrated database with one project (id 1) and one
    block (id 1)."""
    first, second = Database(db_url), Database(db_url)
    first.migrate()
    engine = make_sync_engine(db_url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(User).values(
                id=1, username="ann", display_name="", role="member", created_at=now
            )
        )
        conn.execute(
            insert(Project).values(
                id=1, name="p", description="", owner_id=1, created_at=now, updated_at=now
            )
        )
        conn.execute(
            insert(Membership).values(project_id=1, user_id=1, role="owner", created_at=now)
        )
        conn.execute(
            insert(Block).values(
                id=1,
                project_id=1,
                position=0,
                kind="code",
                source="x = 1",
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
    engine.dispose()
    yield first, second
    jp_asyncio_loop.run_until_complete(first.dispose())
    jp_asyncio_loop.run_until_complete(second.dispose())


def lease_row(db_url):
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(ProjectLease.server_id, ProjectLease.expires_at)).all()
    finally:
        engine.dispose()


async def test_one_of_two_contenders_gets_the_lease_until_it_gives_it_back(two, db_url):
    a = ProjectLeases(two[0], "server-a", ttl=30)
    b = ProjectLeases(two[1], "server-b", ttl=30, poll=0.05)
    # Both at once, several times each: exactly one server wins, the other never does.
    results = await asyncio.gather(*(x.try_acquire(1) for x in (a, b, a, b, a, b)))
    winners = {name for name, won in zip("ababab", results, strict=True) if won}
    assert len(winners) == 1, results
    holder, other = (a, b) if winners == {"a"} else (b, a)
    assert holder.holds(1)
    assert not other.holds(1)
    assert await holder.try_acquire(1)  # ours already: taken again
    assert not await other.try_acquire(1)
    assert [r.server_id for r in lease_row(db_url)] == [holder.server_id]

    waiting = asyncio.ensure_future(other.acquire(1))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # polls while the lease is taken
    await holder.release(1)
    assert await asyncio.wait_for(waiting, 10) is True
    assert other.holds(1)
    assert not holder.holds(1)
    assert [r.server_id for r in lease_row(db_url)] == [other.server_id]
    # A release by the server that no longer holds it does not free it.
    await holder.release(1)
    assert [r.server_id for r in lease_row(db_url)] == [other.server_id]


async def test_an_expired_lease_is_taken_over_and_a_renewed_one_is_not(two, db_url):
    a = ProjectLeases(two[0], "server-a", ttl=0.5)
    b = ProjectLeases(two[1], "server-b", ttl=30)
    assert await a.try_acquire(1)
    await asyncio.sleep(0.3)
    await a.renew()  # the heartbeat pushes the expiry
    await asyncio.sleep(0.3)
    assert not await b.try_acquire(1)  # 0.6 s after taking it, but renewed at 0.3 s
    await asyncio.sleep(0.6)  # no renewal: a is dead to the others
    assert await b.try_acquire(1)
    assert [r.server_id for r in lease_row(db_url)] == ["server-b"]
    assert not await a.try_acquire(1)  # b's now, and not expired


async def test_a_deleted_project_needs_no_lease(two, db_url):
    a = ProjectLeases(two[0], "server-a", ttl=30)
    assert await a.try_acquire(99)  # no such project (deleted on another server)
    assert not a.holds(99)
    assert lease_row(db_url) == []


async def test_waiting_for_a_lease_stops_when_not_wanted_any_more(two):
    a = ProjectLeases(two[0], "server-a", ttl=30)
    b = ProjectLeases(two[1], "server-b", ttl=30, poll=0.05)
    assert await a.try_acquire(1)
    wanted = [True]
    waiting = asyncio.ensure_future(b.acquire(1, lambda: wanted[0]))
    await asyncio.sleep(0.2)
    wanted[0] = False
    assert await asyncio.wait_for(waiting, 10) is False
    assert not b.holds(1)


def add_run(db_url, server_id, status="running", block_id=1) -> int:
    engine = make_sync_engine(db_url)
    try:
        with engine.begin() as conn:
            values = {"project_id": 1, "block_id": block_id, "user_id": 1, "status": status}
            values |= {"source": "x", "outputs": [], "message": "", "queued_at": utcnow()}
            values |= {"server_id": server_id}
            return int(conn.execute(insert(Run).values(values).returning(Run.id)).scalar_one())
    finally:
        engine.dispose()


def runs_by_id(db_url):
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Run.id, Run.status, Run.message, Run.error)).all()
            return {r.id: r for r in rows}
    finally:
        engine.dispose()


def age_heartbeat(db_url, server_id, seconds):
    engine = make_sync_engine(db_url)
    try:
        with engine.begin() as conn:
            old = utcnow() - timedelta(seconds=seconds)
            conn.execute(
                update(ServerRow).where(ServerRow.id == server_id).values(heartbeat_at=old)
            )
    finally:
        engine.dispose()


async def test_the_sweep_closes_only_the_runs_of_servers_whose_heartbeat_is_stale(two, db_url):
    a = ServerRegistry(two[0], interval=1, dead_after=3)
    b = ServerRegistry(two[1], interval=1, dead_after=3)
    a.register()
    b.register()
    mine, theirs = add_run(db_url, b.id), add_run(db_url, a.id)
    queued = add_run(db_url, a.id, "queued")
    assert await b.sweep() == []  # a's heartbeat is fresh: nothing touched
    assert {r.status for r in runs_by_id(db_url).values()} == {"running", "queued"}

    age_heartbeat(db_url, a.id, 10)
    closed = await b.sweep()
    assert sorted(r.id for r in closed) == sorted([theirs, queued])
    runs = runs_by_id(db_url)
    assert runs[mine].status == "running"
    for run_id in (theirs, queued):
        assert runs[run_id].status == "failed"
        assert "stopped answering" in runs[run_id].message
        assert runs[run_id].error["ename"] == "ServerDied"
    assert await b.sweep() == []  # a is forgotten
    await b.beat()  # b's own heartbeat, lease renewal and pruning work
    await b.stop()


async def test_startup_recovery_leaves_the_runs_of_live_servers_alone(two, db_url):
    live = ServerRegistry(two[0], dead_after=30)
    dead = ServerRegistry(two[1], dead_after=30)
    live.register()
    dead.register()
    age_heartbeat(db_url, dead.id, 60)
    kept, orphan, old = add_run(db_url, live.id), add_run(db_url, dead.id), add_run(db_url, None)

    me = ServerRegistry(Database(db_url), dead_after=30)
    me.register()
    assert recover(db_url, me=me.id, dead_after=30) == (2, False)
    runs = runs_by_id(db_url)
    assert runs[kept].status == "running"
    assert (runs[orphan].status, runs[orphan].message) == ("interrupted", INTERRUPTED)
    assert runs[old].status == "interrupted"
    assert others_alive(db_url, me=me.id, dead_after=30)

    age_heartbeat(db_url, live.id, 60)  # now nobody else lives: everything is recovered
    assert recover(db_url, me=me.id, dead_after=30) == (1, True)
    assert runs_by_id(db_url)[kept].status == "interrupted"
    assert not others_alive(db_url, me=me.id, dead_after=30)
    await me.db.dispose()


class Busy:
    """A LiveRun stand-in for the queue: ``process`` records when it worked."""

    def __init__(self, run_id: int) -> None:
        self.id = run_id


async def test_two_servers_queues_of_one_project_take_turns(two):
    """The queue's seam: two servers' queues for one project never work at once; a queue
    whose lease is taken waits, and one that kept its lease idle lets go after
    ``linger``."""
    spans: list[tuple[str, float, float]] = []
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def worker(name: str):
        async def process(live: Busy) -> None:
            start = loop.time()
            await asyncio.sleep(0.05)
            spans.append((name, start, loop.time()))
            if len(spans) == 8:
                done.set()

        return process

    a_leases = ProjectLeases(two[0], "server-a", ttl=30, poll=0.02, linger=0.1)
    b_leases = ProjectLeases(two[1], "server-b", ttl=30, poll=0.02, linger=0.1)
    a, b = ProjectQueues(worker("a"), a_leases), ProjectQueues(worker("b"), b_leases)
    for i in range(4):
        for queues in (a, b):
            queues.fill(queues.reserve(1), Busy(i))
    await asyncio.wait_for(done.wait(), 30)
    spans.sort(key=lambda s: s[1])
    for (_, _, end), (_, start, _) in itertools.pairwise(spans):
        assert end <= start, spans
    assert {name for name, _, _ in spans} == {"a", "b"}
    await asyncio.sleep(0.3)  # both idle past linger: the lease is given back
    assert not a_leases.holds(1)
    assert not b_leases.holds(1)
    await a.close()
    await b.close()
