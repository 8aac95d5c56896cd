"""Schedules: CRUD, validation, roles, real firings on real kernels, and the claim that
keeps two schedulers on one PostgreSQL database from firing a schedule twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import make_project
from sqlalchemy import select, update

from ai_notebook_ext.schedules.cron import next_time
from ai_notebook_ext.schedules.scheduler import Scheduler
from ai_notebook_ext.store import Database
from ai_notebook_ext.store.schedule_models import Schedule


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


async def add_block(api, pid, source, kind="code", user="alice"):
    r = await api(
        "POST", f"projects/{pid}/blocks", user=user, json_body={"source": source, "kind": kind}
    )
    assert r.status == 201, r.body
    return r.body["id"]


async def create(api, pid, user="alice", status=201, **body):
    r = await api("POST", f"projects/{pid}/schedules", user=user, json_body=body)
    assert r.status == status, r.body
    return r.body


async def test_crud_and_next_run_times(api):
    pid = await make_project(api)
    block = await add_block(api, pid, "x = 1")
    before = datetime.now(UTC)
    made = await create(api, pid, cron="0  3 * * *", target="pipeline", timezone="Europe/Paris")
    assert made["cron"] == "0 3 * * *"  # fields joined by single spaces
    assert made["target"] == "pipeline"
    assert made["block_id"] is None
    assert made["enabled"] is True
    assert made["created_by"] == "alice"
    assert made["last_run_at"] is None
    assert made["last_pipeline_run_id"] is None
    assert made["next_run_at"].endswith("Z")  # UTC
    expected = next_time("0 3 * * *", "Europe/Paris", before)
    assert when(made["next_run_at"]) == expected
    sid = made["id"]

    listed = await api("GET", f"projects/{pid}/schedules")
    assert listed.status == 200
    assert [s["id"] for s in listed.body["items"]] == [sid]
    got = await api("GET", f"projects/{pid}/schedules/{sid}")
    assert got.status == 200
    assert got.body == made

    r = await api("PATCH", f"projects/{pid}/schedules/{sid}", json_body={"enabled": False})
    assert r.status == 200, r.body
    assert r.body["enabled"] is False
    assert r.body["next_run_at"] is None
    r = await api(
        "PATCH",
        f"projects/{pid}/schedules/{sid}",
        json_body={"enabled": True, "target": "block", "block_id": block, "cron": "*/5 * * * *"},
    )
    assert r.status == 200, r.body
    assert (r.body["target"], r.body["block_id"], r.body["cron"]) == ("block", block, "*/5 * * * *")
    nxt = when(r.body["next_run_at"])
    assert nxt is not None
    assert nxt.minute % 5 == 0
    assert nxt > before
    # Back to the whole pipeline: block_id is cleared with it.
    r = await api("PATCH", f"projects/{pid}/schedules/{sid}", json_body={"target": "pipeline"})
    assert r.status == 200
    assert r.body["block_id"] is None

    r = await api("DELETE", f"projects/{pid}/schedules/{sid}")
    assert r.status == 204
    assert (await api("GET", f"projects/{pid}/schedules/{sid}")).status == 404
    assert (await api("GET", f"projects/{pid}/schedules")).body["items"] == []


BAD = [
    ({"cron": "* * *", "target": "pipeline"}, "cron", "5 fields"),
    ({"cron": "* * * * * * *", "target": "pipeline"}, "cron", "got 7"),
    ({"cron": "61 * * * *", "target": "pipeline"}, "cron", "out of range"),
    ({"cron": "0 0 30 2 *", "target": "pipeline"}, "cron", "30 February"),
    ({"cron": "H * * * *", "target": "pipeline"}, "cron", "hashed"),
    ({"cron": "", "target": "pipeline"}, "cron", "cron"),
    ({"cron": "0 3 * * *", "target": "pipeline", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ({"cron": "0 3 * * *", "target": "pipeline", "timezone": "../../etc"}, "timezone", "IANA"),
    ({"cron": "0 3 * * *", "target": "sometimes"}, "target", "target"),
    ({"cron": "0 3 * * *"}, "target", "required"),
    ({"cron": "0 3 * * *", "target": "block"}, "block_id", "needs a block_id"),
    ({"cron": "0 3 * * *", "target": "pipeline", "block_id": "BLOCK"}, "block_id", "no block_id"),
    ({"cron": "0 3 * * *", "target": "block", "block_id": 999999}, "block_id", "not a block"),
    ({"cron": "0 3 * * *", "target": "block", "block_id": "OTHER"}, "block_id", "not a block"),
    ({"cron": "0 3 * * *", "target": "block", "block_id": "MD"}, "block_id", "markdown"),
    ({"cron": "0 3 * * *", "target": "pipeline", "when": "soon"}, "when", "unknown field"),
    ({"cron": "0 3 * * *", "target": "pipeline", "enabled": "yes"}, "enabled", "enabled"),
]


async def test_bad_schedules_are_400s_that_change_nothing(api):
    pid = await make_project(api)
    other = await make_project(api, "other")
    ids = {
        "BLOCK": await add_block(api, pid, "x = 1"),
        "MD": await add_block(api, pid, "# notes", kind="markdown"),
        "OTHER": await add_block(api, other, "y = 2"),
    }
    for body, field, text in BAD:
        body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
        r = await api("POST", f"projects/{pid}/schedules", json_body=body)
        assert r.status == 400, (body, r.body)
        message = r.error["message"]
        assert text in message, (body, message)
        assert field in message or r.error["details"].get("field") == field, (body, r.error)
    assert (await api("GET", f"projects/{pid}/schedules")).body["items"] == []

    sid = (await create(api, pid, cron="0 3 * * *", target="pipeline"))["id"]
    before = (await api("GET", f"projects/{pid}/schedules/{sid}")).body
    for body in (
        {"cron": "nope"},
        {"timezone": "Nowhere/Land"},
        {"enabled": None},
        {"target": "block"},
        {"block_id": ids["BLOCK"]},  # target is still pipeline
        {"target": "block", "block_id": ids["OTHER"]},
        {"cron": "0 4 * * *", "colour": "red"},
    ):
        r = await api("PATCH", f"projects/{pid}/schedules/{sid}", json_body=body)
        assert r.status == 400, (body, r.body)
    assert (await api("GET", f"projects/{pid}/schedules/{sid}")).body == before
    for path in (f"projects/{pid}/schedules/abc", f"projects/{pid}/schedules/%C2%B3"):
        assert (await api("GET", path)).status == 404
    assert (await api("GET", f"projects/{other}/schedules/{sid}")).status == 404


async def test_roles_viewers_read_editors_write_strangers_see_nothing(api):
    pid = await make_project(api, carol="viewer", bob="editor")
    sid = (await create(api, pid, cron="0 3 * * *", target="pipeline"))["id"]
    base = f"projects/{pid}/schedules"
    body = {"cron": "0 4 * * *", "target": "pipeline"}

    assert (await api("GET", base, user="carol")).status == 200
    assert (await api("GET", f"{base}/{sid}", user="carol")).status == 200
    for method, path, payload in (
        ("POST", base, body),
        ("PATCH", f"{base}/{sid}", {"enabled": False}),
        ("DELETE", f"{base}/{sid}", None),
    ):
        r = await api(method, path, user="carol", json_body=payload)
        assert r.status == 403, (method, r.body)
        assert r.error["details"]["required_role"] == "editor"
        r = await api(method, path, user="dave", json_body=payload)
        assert r.status == 404, (method, r.body)
    for path in (base, f"{base}/{sid}"):
        assert (await api("GET", path, user="dave")).status == 404

    made = await create(api, pid, user="bob", **body)
    assert made["created_by"] == "bob"
    r = await api("PATCH", f"{base}/{sid}", user="bob", json_body={"enabled": False})
    assert r.status == 200
    assert r.body["created_by"] == "alice"
    assert (await api("DELETE", f"{base}/{made['id']}", user="bob")).status == 204
    assert [s["id"] for s in (await api("GET", base, user="carol")).body["items"]] == [sid]


async def wait_for(check, seconds=90.0):
    """Poll ``check`` (an async callable) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.25)


async def scheduled_runs(api, pid, schedule_id):
    r = await api("GET", f"projects/{pid}/runs", params={"kind": "pipeline", "limit": 500})
    assert r.status == 200, r.body
    return [run for run in r.body["items"] if run["schedule_id"] == schedule_id]


async def test_a_schedule_fires_ordinary_pipeline_runs_and_a_disabled_one_does_not(api, db_url):
    pid = await make_project(api, bob="editor")
    first = await add_block(api, pid, "n = 20")
    block = await add_block(api, pid, "print('tick', n + 1)")
    off = await create(api, pid, user="bob", cron="* * * * * *", target="pipeline", enabled=False)
    on = await create(api, pid, user="bob", cron="* * * * * */2", target="block", block_id=block)
    assert when(on["next_run_at"]).second % 2 == 0

    async def two_ended():
        runs = await scheduled_runs(api, pid, on["id"])
        ended = [r for r in runs if r["status"] not in ("queued", "running")]
        return ended if len(ended) >= 2 else None

    ended = await wait_for(two_ended)
    run = ended[-1]  # the first one
    assert run["kind"] == "pipeline"
    assert run["trigger"] == "schedule"
    assert run["status"] == "succeeded", run
    assert run["username"] == "bob"  # the schedule's creator runs it
    assert run["options"]["target"] == "upstream"
    assert run["options"]["block_id"] == block
    assert run["plan"] == [first, block]  # the block and what it needs
    block_run = (await api("GET", f"projects/{pid}/runs/{run['results'][-1]['run_id']}")).body
    assert block_run["parent_id"] == run["id"]
    assert block_run["outputs"][0]["text"] == "tick 21\n"

    got = (await api("GET", f"projects/{pid}/schedules/{on['id']}")).body
    assert got["last_pipeline_run_id"] is not None
    assert got["last_run_at"] is not None
    assert got["last_pipeline_run_id"] >= ended[0]["id"]
    assert when(got["next_run_at"]) > when(got["last_run_at"])
    # The disabled one, due every second, never fired while the other fired twice.
    assert await scheduled_runs(api, pid, off["id"]) == []
    off_now = (await api("GET", f"projects/{pid}/schedules/{off['id']}")).body
    assert off_now["last_run_at"] is None
    assert off_now["next_run_at"] is None
    # A run someone started is marked manual.
    r = await api("POST", f"projects/{pid}/runs", json_body={"target": "all"})
    assert r.status == 202
    assert r.body["trigger"] == "manual"
    assert r.body["schedule_id"] is None

    # Deleting the project removes its schedules.
    await api("PATCH", f"projects/{pid}/schedules/{on['id']}", json_body={"enabled": False})
    assert (await api("DELETE", f"projects/{pid}")).status == 204
    db = Database(db_url)
    try:
        async with db.session() as session:
            assert list(await session.scalars(select(Schedule.id))) == []
    finally:
        await db.dispose()


async def test_two_schedulers_on_one_database_fire_each_due_schedule_once(db_url):
    """Two schedulers (each with its own engine, as two servers would have) race on the
    same due schedules, round after round: the conditional UPDATE lets exactly one of them
    fire each. This claim is what protects several servers sharing a PostgreSQL database."""
    from sqlalchemy import insert, update

    from ai_notebook_ext.store import Project, User
    from ai_notebook_ext.store.database import upgrade

    upgrade(db_url)
    setup = Database(db_url)
    count, rounds = 20, 5
    async with setup.session() as session:
        session.add(User(id=1, username="alice", display_name="Alice"))
        await session.flush()
        session.add(Project(id=1, name="p", owner_id=1))
        await session.flush()
        await session.execute(
            insert(Schedule),
            [
                {"project_id": 1, "cron": "0 3 * * *", "target": "pipeline", "created_by": 1}
                for _ in range(count)
            ],
        )
    fired: list[tuple[str, int]] = []

    def recorder(name):
        async def fire(due):
            fired.append((name, due.id))
            await asyncio.sleep(0)
            return 1000 + due.id

        return fire

    servers = [Scheduler(Database(db_url), recorder(name)) for name in ("a", "b")]
    try:
        for _ in range(rounds):
            async with setup.session() as session:  # every schedule due again, 1 s ago
                due = datetime.now(UTC) - timedelta(seconds=1)
                await session.execute(update(Schedule).values(next_run_at=due))
            await asyncio.gather(*(s.tick() for s in servers))
            for s in servers:  # the firings started by this round
                await s.settle()
        per_schedule: dict[int, int] = {}
        for _, sid in fired:
            per_schedule[sid] = per_schedule.get(sid, 0) + 1
        assert len(per_schedule) == count
        assert set(per_schedule.values()) == {rounds}, per_schedule
        assert {name for name, _ in fired} <= {"a", "b"}
        async with setup.session() as session:
            rows = list(await session.scalars(select(Schedule)))
        assert all(r.next_run_at > datetime.now(UTC) for r in rows)
        assert all(r.last_pipeline_run_id == 1000 + r.id for r in rows)
    finally:
        for s in servers:
            await s.stop()
            await s.db.dispose()
        await setup.dispose()


@pytest.mark.parametrize("policy", ["skip", "run_once"])
def test_firings_missed_while_down_follow_the_policy(tmp_path, db_url, policy):
    """A real server is stopped, its schedule's time passes (set an hour into the past in
    the database), and the restarted server skips it or runs it once."""
    import time

    from server_process import ServerProcess, tracebacks

    from ai_notebook_ext.store.database import make_sync_engine

    config = {"AINotebookApp": {"schedule_missed": policy, "default_timeout": 60}}
    server = ServerProcess(tmp_path, db_url, extra_config=config).start()
    api = "ai-notebook/api/projects"
    try:
        status, project = server.request("POST", api, {"name": "nightly"})
        assert status == 201, project
        pid = project["id"]
        status, block = server.request(
            "POST", f"{api}/{pid}/blocks", {"source": "print('nightly job')"}
        )
        assert status == 201, block
        body = {"cron": "0 3 * * *", "target": "pipeline"}
        status, schedule = server.request("POST", f"{api}/{pid}/schedules", body)
        assert status == 201, schedule
        sid = schedule["id"]
    finally:
        assert server.stop() == 0, server.log()

    missed = datetime.now(UTC) - timedelta(hours=1)
    engine = make_sync_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Schedule).where(Schedule.id == sid).values(next_run_at=missed))
    engine.dispose()

    server.start()
    try:
        deadline = time.monotonic() + 90
        while True:
            status, got = server.request("GET", f"{api}/{pid}/schedules/{sid}")
            assert status == 200, got
            moved = when(got["next_run_at"]) > datetime.now(UTC)
            started = policy == "skip" or got["last_pipeline_run_id"] is not None
            if moved and started:
                break
            assert time.monotonic() < deadline, got
            time.sleep(0.25)
        assert when(got["next_run_at"]) == next_time("0 3 * * *", "UTC", datetime.now(UTC))
        status, runs = server.request("GET", f"{api}/{pid}/runs?kind=pipeline")
        assert status == 200, runs
        if policy == "skip":
            assert runs["items"] == []
            assert got["last_run_at"] is None
            assert "skipped" in got["last_error"]
        else:
            assert [r["id"] for r in runs["items"]] == [got["last_pipeline_run_id"]]
            assert runs["items"][0]["trigger"] == "schedule"
            assert runs["items"][0]["schedule_id"] == sid
            assert got["last_error"] == ""
            while True:  # its block ran in a real kernel
                status, run = server.request(
                    "GET", f"{api}/{pid}/runs/{got['last_pipeline_run_id']}"
                )
                if run["status"] not in ("queued", "running"):
                    break
                assert time.monotonic() < deadline, run
                time.sleep(0.25)
            assert run["status"] == "succeeded", run
            status, out = server.request("GET", f"{api}/{pid}/runs/{run['results'][0]['run_id']}")
            assert out["outputs"][0]["text"] == "nightly job\n"
    finally:
        assert server.stop() == 0, server.log()
    assert tracebacks(server.log()) == [], server.log()


async def test_a_creator_who_lost_the_editor_role_starts_nothing(api):
    pid = await make_project(api, bob="editor")
    await add_block(api, pid, "x = 1")
    made = await create(api, pid, user="bob", cron="* * * * * *", target="pipeline", enabled=False)
    r = await api("PATCH", f"projects/{pid}/members/bob", json_body={"role": "viewer"})
    assert r.status == 200, r.body
    r = await api("PATCH", f"projects/{pid}/schedules/{made['id']}", json_body={"enabled": True})
    assert r.status == 200, r.body
    assert r.body["created_by"] == "bob"

    async def noted():
        got = (await api("GET", f"projects/{pid}/schedules/{made['id']}")).body
        return got if got["last_error"] else None

    got = await wait_for(noted)
    assert got["last_error"].startswith("not run as bob: "), got
    assert "editor role" in got["last_error"]
    assert got["last_pipeline_run_id"] is None
    assert await scheduled_runs(api, pid, made["id"]) == []
