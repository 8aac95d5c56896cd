"""Blocks API: ordered CRUD, bulk create, move, optimistic concurrency and role checks."""

from __future__ import annotations

from conftest import make_project


async def blocks(api, pid, user="alice"):
    r = await api("GET", f"projects/{pid}/blocks", user=user, params={"limit": 500})
    assert r.status == 200, r.body
    assert [b["position"] for b in r.body["items"]] == list(range(r.body["total"]))
    return r.body["items"]


async def sources(api, pid):
    return [b["source"] for b in await blocks(api, pid)]


async def add(api, pid, source, **extra):
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source, **extra})
    assert r.status == 201, r.body
    return r.body


async def test_create_append_and_insert(api):
    pid = await make_project(api)
    a = await add(api, pid, "a = 1")
    assert a["kind"] == "code"
    assert a["version"] == 1
    assert a["position"] == 0
    assert a["project_id"] == pid
    await add(api, pid, "c = 3")
    b = await add(api, pid, "b = 2", position=1)
    assert b["position"] == 1
    md = await add(api, pid, "# Title", kind="markdown", position=0)
    assert md["kind"] == "markdown"
    assert await sources(api, pid) == ["# Title", "a = 1", "b = 2", "c = 3"]
    r = await api("GET", f"projects/{pid}/blocks/{b['id']}")
    assert r.status == 200
    assert r.body["source"] == "b = 2"
    assert r.body["position"] == 2


async def test_insert_position_past_the_end_is_400(api):
    pid = await make_project(api)
    await add(api, pid, "x")
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "y", "position": 2})
    assert r.status == 400
    assert r.error["details"] == {"field": "position", "max": 1}
    assert await sources(api, pid) == ["x"]


async def test_bulk_create(api):
    pid = await make_project(api)
    await add(api, pid, "first")
    await add(api, pid, "last")
    specs = [{"source": f"s{i}"} for i in range(3)] + [{"kind": "markdown", "source": "m"}]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs, "position": 1})
    assert r.status == 201
    assert [b["position"] for b in r.body["items"]] == [1, 2, 3, 4]
    assert await sources(api, pid) == ["first", "s0", "s1", "s2", "m", "last"]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": []})
    assert r.status == 400
    r = await api(
        "POST",
        f"projects/{pid}/blocks/bulk",
        json_body={"blocks": [{"source": "ok"}, {"kind": "sql"}]},
    )
    assert r.status == 400
    assert r.error["details"]["errors"][0]["field"] == "blocks.1.kind"
    assert len(await blocks(api, pid)) == 6


async def test_update_with_version_and_409_on_stale(api):
    pid = await make_project(api, bob="editor")
    blk = await add(api, pid, "x = 1")
    path = f"projects/{pid}/blocks/{blk['id']}"
    r = await api("PATCH", path, json_body={"version": 1, "source": "x = 2"})
    assert r.status == 200
    assert r.body["version"] == 2
    assert r.body["source"] == "x = 2"
    # bob saw version 1: his edit is refused with the current block, nothing changes
    r = await api("PATCH", path, user="bob", json_body={"version": 1, "source": "x = 99"})
    assert r.status == 409
    assert r.error["code"] == "conflict"
    current = r.error["details"]["current"]
    assert current["version"] == 2
    assert current["source"] == "x = 2"
    assert (await api("GET", path)).body["source"] == "x = 2"
    # with the current version bob's edit goes through
    r = await api("PATCH", path, user="bob", json_body={"version": 2, "kind": "markdown"})
    assert r.status == 200
    assert r.body["kind"] == "markdown"
    assert r.body["version"] == 3
    # an unchanged value is a no-op that keeps the version
    r = await api("PATCH", path, json_body={"version": 3, "source": "x = 2"})
    assert r.status == 200
    assert r.body["version"] == 3


async def test_update_needs_version_and_a_change(api):
    pid = await make_project(api)
    blk = await add(api, pid, "x")
    path = f"projects/{pid}/blocks/{blk['id']}"
    r = await api("PATCH", path, json_body={"source": "y"})
    assert r.status == 400
    assert r.error["message"] == "field 'version' is required"
    r = await api("PATCH", path, json_body={"version": "1", "source": "y"})
    assert r.status == 400
    assert r.error["details"]["errors"][0]["field"] == "version"
    r = await api("PATCH", path, json_body={"version": 1})
    assert r.status == 400
    assert "nothing to change" in r.error["message"]
    r = await api("PATCH", path, json_body={"version": 1, "source": "s" * 1_000_001})
    assert r.status == 400
    assert r.error["details"]["errors"][0]["field"] == "source"
    assert (await api("GET", path)).body["version"] == 1


async def test_delete_with_version(api):
    pid = await make_project(api)
    _, b, _ = [await add(api, pid, s) for s in "abc"]
    r = await api("DELETE", f"projects/{pid}/blocks/{b['id']}")
    assert r.status == 400
    assert r.error["details"] == {"field": "version"}
    r = await api("DELETE", f"projects/{pid}/blocks/{b['id']}", params={"version": 7})
    assert r.status == 409
    assert r.error["details"]["current"]["id"] == b["id"]
    assert await sources(api, pid) == ["a", "b", "c"]
    r = await api("DELETE", f"projects/{pid}/blocks/{b['id']}", params={"version": 1})
    assert r.status == 204
    assert await sources(api, pid) == ["a", "c"]
    assert (await api("GET", f"projects/{pid}/blocks/{b['id']}")).status == 404


async def test_move(api):
    pid = await make_project(api)
    ids = [(await add(api, pid, s))["id"] for s in "abcde"]
    r = await api("POST", f"projects/{pid}/blocks/{ids[0]}/move", json_body={"position": 3})
    assert r.status == 200
    assert r.body["block"]["position"] == 3
    assert r.body["block"]["version"] == 1  # moving does not touch the content version
    assert r.body["order"] == [ids[1], ids[2], ids[3], ids[0], ids[4]]
    assert await sources(api, pid) == ["b", "c", "d", "a", "e"]
    r = await api("POST", f"projects/{pid}/blocks/{ids[4]}/move", json_body={"position": 0})
    assert await sources(api, pid) == ["e", "b", "c", "d", "a"]
    r = await api("POST", f"projects/{pid}/blocks/{ids[2]}/move", json_body={"position": 2})
    assert r.body["order"] == [ids[4], ids[1], ids[2], ids[3], ids[0]]
    r = await api("POST", f"projects/{pid}/blocks/{ids[2]}/move", json_body={"position": 5})
    assert r.status == 400
    assert r.error["details"] == {"field": "position", "max": 4}
    r = await api("POST", f"projects/{pid}/blocks/{ids[2]}/move", json_body={"position": -1})
    assert r.status == 400


async def test_block_role_matrix(api):
    pid = await make_project(api, bob="editor", carol="viewer")
    blk = await add(api, pid, "x = 1")
    path = f"projects/{pid}/blocks/{blk['id']}"
    for user, read, write in [("bob", 200, 201), ("carol", 200, 403), ("dave", 404, 404)]:
        assert (await api("GET", f"projects/{pid}/blocks", user=user)).status == read, user
        assert (await api("GET", path, user=user)).status == read, user
        r = await api("POST", f"projects/{pid}/blocks", user=user, json_body={"source": user})
        assert r.status == write, user
    for user, status in [("carol", 403), ("dave", 404)]:
        r = await api("PATCH", path, user=user, json_body={"version": 1, "source": "hack"})
        assert r.status == status, user
        r = await api("POST", f"{path}/move", user=user, json_body={"position": 0})
        assert r.status == status, user
        r = await api("DELETE", path, user=user, params={"version": 1})
        assert r.status == status, user
        r = await api(
            "POST",
            f"projects/{pid}/blocks/bulk",
            user=user,
            json_body={"blocks": [{"source": "z"}]},
        )
        assert r.status == status, user
    assert await sources(api, pid) == ["x = 1", "bob"]


async def test_block_of_another_project_is_404(api):
    p1 = await make_project(api, "one")
    p2 = await make_project(api, "two")
    blk = await add(api, p1, "x")
    r = await api("GET", f"projects/{p2}/blocks/{blk['id']}")
    assert r.status == 404
    assert r.error["details"] == {"block_id": blk["id"], "project_id": p2}
    r = await api(
        "PATCH", f"projects/{p2}/blocks/{blk['id']}", json_body={"version": 1, "source": "y"}
    )
    assert r.status == 404
    assert (await api("GET", f"projects/{p1}/blocks/{blk['id']}")).body["source"] == "x"


async def test_deleting_a_project_deletes_its_blocks(api):
    pid = await make_project(api)
    blk = await add(api, pid, "x")
    assert (await api("DELETE", f"projects/{pid}")).status == 204
    assert (await api("GET", f"projects/{pid}/blocks/{blk['id']}")).status == 404


async def test_block_pages(api):
    pid = await make_project(api)
    r = await api(
        "POST",
        f"projects/{pid}/blocks/bulk",
        json_body={"blocks": [{"source": str(i)} for i in range(7)]},
    )
    assert r.status == 201
    r = await api("GET", f"projects/{pid}/blocks", params={"limit": 3, "offset": 3})
    assert r.body["total"] == 7
    assert [b["source"] for b in r.body["items"]] == ["3", "4", "5"]


async def test_clear_outputs(api):
    """As JupyterLab's Clear Outputs and a save: the blocks show no outputs until they run
    again; their runs and states stay. Bad input changes nothing."""
    pid = await make_project(api, bob="editor", carol="viewer")
    printed = await add(api, pid, "print('hello')")
    never = await add(api, pid, "y = 2")
    other = await make_project(api, "other")
    foreign = await add(api, other, "z = 3")
    r = await api("POST", f"projects/{pid}/blocks/{printed['id']}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    run_id = r.body["id"]
    path = f"projects/{pid}/blocks/clear-outputs"

    async def last_runs():
        r = await api("GET", f"projects/{pid}/workspace")
        return {b["id"]: b["last_run"] for b in r.body["blocks"]}

    bad = [
        ("carol", {"block_ids": [printed["id"]]}, 403),
        ("dave", {"block_ids": [printed["id"]]}, 404),
        ("bob", {"block_ids": []}, 400),
        ("bob", {"block_ids": ["x"]}, 400),
        ("bob", {"block_ids": [0]}, 400),
        ("bob", {}, 400),
        ("bob", {"block_ids": [printed["id"], foreign["id"]]}, 404),
    ]
    for user, body, status in bad:
        r = await api("POST", path, user=user, json_body=body)
        assert r.status == status, (user, body, r.body)
    assert r.error["details"]["block_ids"] == [foreign["id"]]
    assert (await last_runs())[printed["id"]]["id"] == run_id  # nothing changed

    r = await api("POST", path, user="bob", json_body={"block_ids": [printed["id"], never["id"]]})
    assert r.status == 200, r.body
    assert r.body == {"block_ids": [printed["id"]]}  # the other showed nothing
    assert (await last_runs())[printed["id"]] is None
    r = await api("GET", f"projects/{pid}/dag")
    assert {n["block_id"]: n["state"] for n in r.body["nodes"]}[printed["id"]] == "fresh"
    r = await api("GET", f"projects/{pid}/runs", params={"block_id": printed["id"]})
    assert [x["id"] for x in r.body["items"]] == [run_id]  # its history is kept
    # Running it again shows its new outputs.
    r = await api("POST", f"projects/{pid}/blocks/{printed['id']}/execute", params={"wait": "true"})
    assert (await last_runs())[printed["id"]]["outputs"][0]["text"] == "hello\n"
