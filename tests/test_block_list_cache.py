"""Block lists are cached with an ETag; any change, by this server or another, shows.

Another server on the same database is played by SQL written straight to it (what that
server's own block service writes): the cache must notice without being told.
"""

from __future__ import annotations

import pytest
from conftest import make_project
from sqlalchemy import text

from ai_notebook_ext.store.database import make_sync_engine


async def listing(api, pid, user="alice", etag=None, **params):
    headers = {"If-None-Match": etag} if etag else None
    r = await api(
        "GET", f"projects/{pid}/blocks", user=user, params=params or None, headers=headers
    )
    return r


async def add(api, pid, source):
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source})
    assert r.status == 201, r.body
    return r.body


def sql(db_url, statement, **params):
    """A write by "another server": straight to the database, not through this one."""
    engine = make_sync_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


async def test_etag_and_not_modified(api):
    pid = await make_project(api)
    await add(api, pid, "a = 1")
    first = await listing(api, pid)
    assert first.status == 200
    etag = first.headers["ETag"]
    again = await listing(api, pid)
    assert again.headers["ETag"] == etag
    assert again.raw == first.raw
    unchanged = await listing(api, pid, etag=etag)
    assert unchanged.status == 304
    assert unchanged.raw == b""
    assert unchanged.headers["ETag"] == etag
    assert (await listing(api, pid, etag='"something-else"')).status == 200


async def test_every_change_through_the_api_shows(api):
    pid = await make_project(api)
    a = await add(api, pid, "a = 1")
    b = await add(api, pid, "b = 2")
    seen = set()

    async def check(expected_sources):
        r = await listing(api, pid)
        assert r.status == 200
        assert [x["source"] for x in r.body["items"]] == expected_sources
        assert r.body["total"] == len(expected_sources)
        assert r.headers["ETag"] not in seen
        seen.add(r.headers["ETag"])
        return r

    old = (await check(["a = 1", "b = 2"])).headers["ETag"]
    r = await api(
        "PATCH", f"projects/{pid}/blocks/{a['id']}", json_body={"source": "a = 10", "version": 1}
    )
    assert r.status == 200, r.body
    await check(["a = 10", "b = 2"])
    assert (await listing(api, pid, etag=old)).status == 200  # an old ETag gets the new list
    r = await api("POST", f"projects/{pid}/blocks/{b['id']}/move", json_body={"position": 0})
    assert r.status == 200, r.body
    await check(["b = 2", "a = 10"])
    r = await api("DELETE", f"projects/{pid}/blocks/{b['id']}", params={"version": 1})
    assert r.status == 204, r.body
    await check(["a = 10"])
    await add(api, pid, "c = 3")
    await check(["a = 10", "c = 3"])


async def test_changes_made_by_another_server_show(api, db_url):
    pid = await make_project(api)
    a = await add(api, pid, "a = 1")
    b = await add(api, pid, "b = 2")
    cached = await listing(api, pid)
    etag = cached.headers["ETag"]

    sql(
        db_url,
        "UPDATE blocks SET source = 'a = 99', version = version + 1 WHERE id = :id",
        id=a["id"],
    )
    r = await listing(api, pid, etag=etag)
    assert r.status == 200
    assert [x["source"] for x in r.body["items"]] == ["a = 99", "b = 2"]

    sql(db_url, "UPDATE blocks SET position = 1 - position WHERE project_id = :pid", pid=pid)
    r = await listing(api, pid)
    assert [x["id"] for x in r.body["items"]] == [b["id"], a["id"]]

    sql(db_url, "DELETE FROM blocks WHERE id = :id", id=a["id"])
    sql(db_url, "UPDATE blocks SET position = 0 WHERE id = :id", id=b["id"])
    r = await listing(api, pid)
    assert [x["id"] for x in r.body["items"]] == [b["id"]]
    assert r.body["total"] == 1


async def test_any_column_changed_elsewhere_shows(api, db_url):
    """The revision comes from triggers on the blocks table: a write that changes no
    version (a script fixing a timeout, a migration) still changes the list and its ETag."""
    pid = await make_project(api)
    a = await add(api, pid, "a = 1")
    before = await listing(api, pid)
    sql(db_url, "UPDATE blocks SET timeout_seconds = 7 WHERE id = :id", id=a["id"])
    after = await listing(api, pid, etag=before.headers["ETag"])
    assert after.status == 200
    assert after.body["items"][0]["timeout_seconds"] == 7
    assert after.headers["ETag"] != before.headers["ETag"]
    again = await listing(api, pid, etag=after.headers["ETag"])
    assert again.status == 304


async def test_a_run_changes_the_list(api, db_url):
    """``last_run_id`` is part of each block: a run recorded elsewhere shows."""
    pid = await make_project(api)
    a = await add(api, pid, "a = 1")
    before = await listing(api, pid)
    assert before.body["items"][0]["last_run_id"] is None
    sql(
        db_url,
        "INSERT INTO runs (project_id, block_id, kind, status, source, block_version, outputs, "
        "message, queued_at) "
        "VALUES (:pid, :bid, 'block', 'succeeded', 'a = 1', 1, '[]', '', CURRENT_TIMESTAMP)",
        pid=pid,
        bid=a["id"],
    )
    sql(
        db_url,
        "UPDATE blocks SET last_run_id = (SELECT max(id) FROM runs) WHERE id = :id",
        id=a["id"],
    )
    after = await listing(api, pid, etag=before.headers["ETag"])
    assert after.status == 200
    assert after.body["items"][0]["last_run_id"] is not None


async def test_pages_are_cached_apart(api):
    pid = await make_project(api)
    for i in range(5):
        await add(api, pid, f"x = {i}")
    whole = await listing(api, pid, limit=5)
    head = await listing(api, pid, limit=2)
    tail = await listing(api, pid, limit=2, offset=3)
    assert [x["source"] for x in head.body["items"]] == ["x = 0", "x = 1"]
    assert [x["source"] for x in tail.body["items"]] == ["x = 3", "x = 4"]
    assert head.body["total"] == tail.body["total"] == 5
    assert len({whole.headers["ETag"], head.headers["ETag"], tail.headers["ETag"]}) == 3
    assert (await listing(api, pid, etag=head.headers["ETag"], limit=5)).status == 200


async def test_roles_are_checked_on_every_request(api):
    pid = await make_project(api, bob="viewer")
    await add(api, pid, "a = 1")
    r = await listing(api, pid, user="bob")
    assert r.status == 200
    etag = r.headers["ETag"]
    assert (await listing(api, pid, user="dave")).status == 404
    assert (await listing(api, pid, user="dave", etag=etag)).status == 404
    r = await api("DELETE", f"projects/{pid}/members/bob")
    assert r.status == 204, r.body
    assert (await listing(api, pid, user="bob")).status == 404
    assert (await listing(api, pid, user="bob", etag=etag)).status == 404
    assert (await listing(api, 999_999)).status == 404


async def test_a_block_deleted_while_its_run_is_written_is_a_404(api, db_url, monkeypatch):
    """On PostgreSQL the block check and the run's INSERT commit on their own: a block
    deleted in between fails the INSERT's foreign key, and the caller gets the 404 it
    would have got a moment later, not a 500; no run is left behind."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite: the check and the insert are one transaction (one writer)")
    from ai_notebook_ext.execution.records import RunRecords

    pid = await make_project(api)
    block = await add(api, pid, "x = 1")
    check = RunRecords._block

    async def checked_then_deleted(conn, actor, project_id, block_id):
        row = await check(conn, actor, project_id, block_id)
        sql(db_url, "DELETE FROM blocks WHERE id = :id", id=block_id)  # another server
        return row

    monkeypatch.setattr(RunRecords, "_block", staticmethod(checked_then_deleted))
    r = await api("POST", f"projects/{pid}/blocks/{block['id']}/execute", params={"wait": "true"})
    assert r.status == 404, r.body
    assert "not found" in r.error["message"]
    runs = await api("GET", f"projects/{pid}/runs")
    assert runs.body["total"] == 0
