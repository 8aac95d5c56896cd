"""Two real server processes on one PostgreSQL: live events cross servers, a project's
runs never overlap across servers, a dead server's runs are closed only once its
heartbeat is stale, and a starting server leaves a live server's runs alone.

PostgreSQL only (several servers cannot share a SQLite file); like every PostgreSQL
test it fails when AINB_REQUIRE_POSTGRES=1 and PostgreSQL is missing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess
from sqlalchemy import select
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from ai_notebook_ext.store.database import make_sync_engine
from ai_notebook_ext.store.models import Run
from ai_notebook_ext.store.server_models import ServerRow
from ai_notebook_ext.store.types import utcnow

API = "ai-notebook/api"
DEAD_AFTER = 4.0
SHORT = {"heartbeat_interval": 0.5, "server_dead_after": DEAD_AFTER}


@pytest.fixture
def shared_db(pg_server):
    """A fresh database on the session's PostgreSQL server."""
    name = "ms_" + uuid.uuid4().hex[:16]
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def servers(tmp_path, shared_db):
    """``start(name)``: a server process on the shared database; all stopped after."""
    started: list[ServerProcess] = []

    def start(name: str) -> ServerProcess:
        workdir = tmp_path / name
        workdir.mkdir()
        server = ServerProcess(workdir, shared_db, extra_config={"AINotebookApp": SHORT})
        started.append(server.start())
        return server

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


def call(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    status, data = server.request(method, f"{API}/{path}", body)
    assert status in (200, 201, 202), (status, data, server.url)
    return data


def wait_run(
    server: ServerProcess, pid: int, rid: int, statuses: set[str], timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = call(server, "GET", f"projects/{pid}/runs/{rid}")
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def execute(server: ServerProcess, pid: int, source: str) -> dict[str, Any]:
    """A new block with ``source``, sent to run (not waited for)."""
    block = call(server, "POST", f"projects/{pid}/blocks", {"source": source})
    return call(server, "POST", f"projects/{pid}/blocks/{block['id']}/execute")


async def subscribe(server: ServerProcess, pid: int) -> Any:
    url = server.url.replace("http", "ws", 1) + f"{API}/projects/{pid}/events"
    request = HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
    ws = await websocket_connect(request)
    hello = json.loads(await asyncio.wait_for(ws.read_message(), 15))
    assert hello["type"] == "hello", hello
    return ws


async def next_of(ws: Any, kind: str, within: float = 15) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await asyncio.wait_for(ws.read_message(), max(0.01, deadline - loop.time()))
        assert message is not None, "socket closed"
        event = json.loads(message)
        if event["type"] == kind:
            return event


def test_a_block_edited_on_one_server_reaches_a_socket_on_the_other(servers):
    a, b = servers("a"), servers("b")
    pid = call(a, "POST", "projects", {"name": "shared"})["id"]
    block = call(a, "POST", f"projects/{pid}/blocks", {"source": "x = 1"})

    async def scenario() -> None:
        on_b = await subscribe(b, pid)
        on_a = await subscribe(a, pid)
        edits = [
            ("y = 2", block["version"]),
            ("z = '" + "é" * 9000 + "'", block["version"] + 1),  # > 8000 bytes: stored
        ]
        for source, version in edits:
            path = f"projects/{pid}/blocks/{block['id']}"
            body = {"version": version, "source": source}
            changed = await asyncio.to_thread(call, a, "PATCH", path, body)
            assert changed["source"] == source
            event = await next_of(on_b, "block-changed")
            assert event["block"]["id"] == block["id"]
            assert event["block"]["source"] == source
            assert (await next_of(on_a, "block-changed"))["block"]["source"] == source
        # Nothing comes twice (no echo back from the channel) on either server.
        created = await asyncio.to_thread(
            call, b, "POST", f"projects/{pid}/blocks", {"source": "w = 3"}
        )
        for ws in (on_a, on_b):
            event = await next_of(ws, "block-created")
            assert event["block"]["id"] == created["id"]
            await asyncio.sleep(0.5)
            rest = []
            while True:
                try:
                    message = await asyncio.wait_for(ws.read_message(), 0.5)
                except TimeoutError:
                    break
                rest.append(json.loads(message)["type"])
            assert "block-created" not in rest, rest
            assert "block-changed" not in rest, rest
            ws.close()

    asyncio.run(scenario())


STAMP = """
import os, time
t0 = time.time()
time.sleep(0.3)
t1 = time.time()
with open({path!r}, "a") as f:
    f.write(f"{{t0}} {{t1}} {{os.getpid()}}\\n")
"""


def test_runs_of_one_project_sent_to_both_servers_never_overlap(servers, tmp_path: Path):
    a, b = servers("a"), servers("b")
    pid = call(a, "POST", "projects", {"name": "serial"})["id"]
    stamps = tmp_path / "stamps.txt"
    code = STAMP.format(path=str(stamps))
    blocks = [call(a, "POST", f"projects/{pid}/blocks", {"source": code}) for _ in range(8)]
    targets = [a, b] * 4

    def send(pair: tuple[ServerProcess, dict[str, Any]]) -> tuple[ServerProcess, dict[str, Any]]:
        server, block = pair
        return server, call(server, "POST", f"projects/{pid}/blocks/{block['id']}/execute")

    with ThreadPoolExecutor(8) as pool:  # all at once
        sent = list(pool.map(send, zip(targets, blocks, strict=True)))
    for server, run in sent:
        done = wait_run(server, pid, run["id"], {"succeeded", "failed", "cancelled"})
        assert done["status"] == "succeeded", done

    lines = stamps.read_text().split()
    spans = sorted((float(t0), float(t1)) for t0, t1, _ in zip(*[iter(lines)] * 3, strict=True))
    kernels = set(lines[2::3])
    assert len(spans) == 8
    assert len(kernels) == 2, "both servers' kernels ran some"
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"runs overlap: one ended at {end}, the next began at {start}"


def db_state(url: str, run_id: int, server_id: str) -> tuple[str, Any, Any]:
    """The run's status and error, and its server's heartbeat (None: row gone), read in
    one transaction."""
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            run = conn.execute(select(Run.status, Run.error).where(Run.id == run_id)).one()
            beat = conn.execute(
                select(ServerRow.heartbeat_at).where(ServerRow.id == server_id)
            ).scalar()
        return run.status, run.error, beat
    finally:
        engine.dispose()


def run_server(url: str, run_id: int) -> str:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(select(Run.server_id).where(Run.id == run_id)).scalar_one())
    finally:
        engine.dispose()


SLEEPER = "import time; time.sleep(120)"


def test_a_killed_servers_run_is_closed_once_its_heartbeat_is_stale(servers, shared_db):
    a, b = servers("a"), servers("b")
    p1 = call(a, "POST", "projects", {"name": "on a"})["id"]
    p2 = call(b, "POST", "projects", {"name": "on b"})["id"]
    theirs = execute(a, p1, SLEEPER)
    mine = execute(b, p2, SLEEPER)
    wait_run(a, p1, theirs["id"], {"running"})
    wait_run(b, p2, mine["id"], {"running"})
    a_id = run_server(shared_db, theirs["id"])
    assert a_id != run_server(shared_db, mine["id"])

    a.kill()
    last_beat = None
    while True:  # B's sweep runs every 0.5 s meanwhile
        status, error, beat = db_state(shared_db, theirs["id"], a_id)
        if status != "running":
            break
        assert beat is not None  # a's row goes only with its runs closed
        last_beat = beat
        time.sleep(0.1)
    closed_at = utcnow()
    assert last_beat is not None, "the run was closed before a's heartbeat went stale"
    # Closed only once a's last heartbeat was older than server_dead_after.
    assert (closed_at - last_beat).total_seconds() >= DEAD_AFTER
    assert status == "failed"
    assert beat is None
    assert error["ename"] == "ServerDied"
    run = call(b, "GET", f"projects/{p1}/runs/{theirs['id']}")
    assert run["status"] == "failed"
    assert "stopped answering" in run["message"]
    assert "no heartbeat" in run["message"]

    assert call(b, "GET", f"projects/{p2}/runs/{mine['id']}")["status"] == "running"
    # a's lease on p1 expired with it: b runs p1's code now.
    after = execute(b, p1, "1 + 1")
    assert wait_run(b, p1, after["id"], {"succeeded", "failed"})["status"] == "succeeded"
    call(b, "POST", f"projects/{p2}/runs/{mine['id']}/cancel")
    assert wait_run(b, p2, mine["id"], {"cancelled", "failed"})["status"] == "cancelled"


def test_a_starting_server_leaves_a_live_servers_running_run_alone(servers):
    a = servers("a")
    pid = call(a, "POST", "projects", {"name": "busy"})["id"]
    run = execute(a, pid, SLEEPER)
    wait_run(a, pid, run["id"], {"running"})

    b = servers("b")  # its startup recovery runs now
    assert call(b, "GET", f"projects/{pid}/runs/{run['id']}")["status"] == "running"
    time.sleep(2 * SHORT["heartbeat_interval"])  # and b's sweeps leave it alone too
    assert call(b, "GET", f"projects/{pid}/runs/{run['id']}")["status"] == "running"
    assert "interrupted" not in b.log()
    call(a, "POST", f"projects/{pid}/runs/{run['id']}/cancel")
    assert wait_run(a, pid, run["id"], {"cancelled", "failed"})["status"] == "cancelled"


def terminate_listeners(url: str) -> int:
    """End the servers' LISTEN connections from the database side, as a restart does."""
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            rows = conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %%' AND datname = current_database()"
            ).all()
        return len(rows)
    finally:
        engine.dispose()


def test_after_the_listener_reconnects_sockets_are_told_to_reconnect(servers, shared_db):
    a, b = servers("a"), servers("b")
    pid = call(a, "POST", "projects", {"name": "flaky"})["id"]
    block = call(a, "POST", f"projects/{pid}/blocks", {"source": "x = 1"})

    async def scenario() -> None:
        on_b = await subscribe(b, pid)
        assert terminate_listeners(shared_db) == 2
        # Events sent while b was not listening are lost: b's sockets are closed with
        # 1012 once it listens again, so that clients reload and are checked again.
        while await asyncio.wait_for(on_b.read_message(), 30) is not None:
            pass
        assert on_b.close_code == 1012
        on_b = await subscribe(b, pid)
        path = f"projects/{pid}/blocks/{block['id']}"
        body = {"version": block["version"], "source": "y = 2"}
        await asyncio.to_thread(call, a, "PATCH", path, body)
        assert (await next_of(on_b, "block-changed"))["block"]["source"] == "y = 2"
        on_b.close()

    asyncio.run(scenario())
