"""The project event socket: members only, live block/edge/member/run events, presence,
client echoes, revocation; and a global event bus without names on shared servers."""

from __future__ import annotations

import asyncio
import json
import logging

import pandas as pd
import pytest
import tornado.httpclient
from conftest import make_project
from identity import auth
from test_api_datasets import as_bytes, upload
from ws_events import connect, drain, next_event, until

CLIENT = {"X-AINB-Client": "tab-7"}


async def test_members_see_block_and_edge_changes_live(api, jp_ws_fetch):
    pid = await make_project(api, bob="editor", carol="viewer")
    ws, hello = await connect(jp_ws_fetch, pid, "carol")
    assert hello["project_id"] == pid
    assert hello["role"] == "viewer"
    assert hello["username"] == "carol"
    assert hello["presence"] == [{"username": "carol", "display_name": "Carol Example"}]

    r = await api(
        "POST", f"projects/{pid}/blocks", user="bob", json_body={"source": "x = 1"}, headers=CLIENT
    )
    first = r.body
    event = await next_event(ws)
    assert event == {"type": "block-created", "block": first, "actor": "bob", "client": "tab-7"}

    r = await api(
        "PATCH",
        f"projects/{pid}/blocks/{first['id']}",
        user="bob",
        json_body={"version": 1, "source": "x = 2"},
    )
    event = await next_event(ws)
    assert event["type"] == "block-changed"
    assert event["block"]["source"] == "x = 2"
    assert event["block"]["version"] == 2
    assert event["block"] == r.body
    assert (event["actor"], event["client"]) == ("bob", None)

    bulk = {"blocks": [{"source": "y = x"}, {"source": "# notes", "kind": "markdown"}]}
    r = await api("POST", f"projects/{pid}/blocks/bulk", user="bob", json_body=bulk)
    second, third = r.body["items"]
    created = [await next_event(ws), await next_event(ws)]
    assert [e["block"]["id"] for e in created] == [second["id"], third["id"]]
    assert created[1]["block"]["kind"] == "markdown"

    r = await api(
        "POST", f"projects/{pid}/blocks/{third['id']}/move", user="bob", json_body={"position": 0}
    )
    event = await next_event(ws)
    assert event["type"] == "blocks-moved"
    assert event["order"] == [third["id"], first["id"], second["id"]] == r.body["order"]

    r = await api("POST", f"projects/{pid}/blocks/{first['id']}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    r = await api(
        "POST",
        f"projects/{pid}/blocks/clear-outputs",
        user="bob",
        json_body={"block_ids": [first["id"], second["id"]]},
    )
    assert r.body == {"block_ids": [first["id"]]}
    event = await next_event(ws)
    while event["type"] != "outputs-cleared":  # the run's own events come first
        assert event["type"] in ("run-status", "run-output", "kernel-status", "dag-changed")
        event = await next_event(ws)
    assert event == {
        "type": "outputs-cleared",
        "block_ids": [first["id"]],
        "actor": "bob",
        "client": None,
    }

    r = await api(
        "POST",
        f"projects/{pid}/edges",
        user="alice",
        json_body={"source": first["id"], "target": second["id"]},
    )
    event = await next_event(ws)
    assert event == {"type": "edge-added", "edge": r.body, "actor": "alice", "client": None}
    edge_id = r.body["id"]
    assert (await api("DELETE", f"projects/{pid}/edges/{edge_id}")).status == 204
    event = await next_event(ws)
    assert (event["type"], event["edge_id"]) == ("edge-removed", edge_id)

    r = await api("DELETE", f"projects/{pid}/blocks/{third['id']}", params={"version": 1})
    assert r.status == 204
    event = await next_event(ws)
    assert event == {
        "type": "block-deleted",
        "block_id": third["id"],
        "actor": "alice",
        "client": None,
    }

    # refused changes announce nothing
    r = await api(
        "PATCH", f"projects/{pid}/blocks/{first['id']}", json_body={"version": 1, "source": "z"}
    )
    assert r.status == 409
    r = await api("POST", f"projects/{pid}/blocks", user="carol", json_body={"source": "no"})
    assert r.status == 403
    assert await drain(ws) == []
    ws.close()


async def test_ping_pong_and_project_changes(api, jp_ws_fetch):
    pid = await make_project(api, bob="viewer")
    ws, _ = await connect(jp_ws_fetch, pid, "bob")
    await ws.write_message(json.dumps({"type": "ping"}))
    assert await next_event(ws) == {"type": "pong"}

    r = await api("PATCH", f"projects/{pid}", json_body={"name": "renamed"}, headers=CLIENT)
    assert r.status == 200
    event = await next_event(ws)
    assert event["type"] == "project-changed"
    assert event["project"]["name"] == "renamed"
    assert event["project"]["role"] == "viewer"  # the receiver's role, not the actor's
    assert (event["actor"], event["client"]) == ("alice", "tab-7")

    r = await api("PATCH", f"projects/{pid}/members/bob", json_body={"role": "editor"})
    assert r.status == 200
    assert (await next_event(ws))["type"] == "members-changed"
    r = await api("PATCH", f"projects/{pid}", json_body={"description": "d"})
    assert (await until(ws, "project-changed"))["project"]["role"] == "editor"

    assert (await api("DELETE", f"projects/{pid}")).status == 204
    assert (await next_event(ws))["type"] == "project-deleted"
    assert await ws.read_message() is None
    assert ws.close_code == 4404


async def test_only_members_connect(api, jp_ws_fetch):
    pid = await make_project(api, carol="viewer")
    for user, project, code in [("dave", pid, 404), ("alice", 999999, 404), ("denied", pid, 403)]:
        with pytest.raises(tornado.httpclient.HTTPClientError) as err:
            await jp_ws_fetch(
                "ai-notebook", "api", "projects", str(project), "events", headers=auth(user)
            )
        assert err.value.code == code, user
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_ws_fetch(
            "ai-notebook",
            "api",
            "projects",
            str(pid),
            "events",
            headers={"Authorization": "token nope"},
        )
    assert err.value.code == 403
    # the same JSON 404 as the REST API, before any upgrade
    r = await api("GET", f"projects/{pid}/events", user="dave")
    assert r.status == 404
    assert r.error["code"] == "not_found"
    # an admin who is not a member may
    ws, hello = await connect(jp_ws_fetch, pid, "root")
    assert hello["role"] == "owner"
    ws.close()
    ws, hello = await connect(jp_ws_fetch, pid, "carol")
    assert hello["role"] == "viewer"
    ws.close()


async def test_a_removed_member_is_cut_off_at_once(api, jp_ws_fetch):
    pid = await make_project(api, bob="viewer")
    alice, _ = await connect(jp_ws_fetch, pid, "alice")
    bob, hello = await connect(jp_ws_fetch, pid, "bob")
    assert [p["username"] for p in hello["presence"]] == ["alice", "bob"]
    assert (await until(alice, "presence"))["presence"][1]["username"] == "bob"

    assert (await api("DELETE", f"projects/{pid}/members/bob")).status == 204
    assert await bob.read_message() is None  # closed without a further event
    assert bob.close_code == 4403
    assert "removed" in bob.close_reason
    event = await next_event(alice)
    assert event == {
        "type": "presence",
        "presence": [{"username": "alice", "display_name": "Alice Example"}],
    }
    assert (await next_event(alice))["type"] == "members-changed"

    await api("POST", f"projects/{pid}/blocks", json_body={"source": "secret = 1"})
    assert (await next_event(alice))["type"] == "block-created"
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await connect(jp_ws_fetch, pid, "bob")
    assert err.value.code == 404
    alice.close()


async def test_presence_on_join_and_leave(api, jp_ws_fetch):
    pid = await make_project(api, bob="editor")
    alice, hello = await connect(jp_ws_fetch, pid, "alice")
    assert hello["presence"] == [{"username": "alice", "display_name": "Alice Example"}]
    bob, hello = await connect(jp_ws_fetch, pid, "bob")
    both = [
        {"username": "alice", "display_name": "Alice Example"},
        {"username": "bob", "display_name": "Bob Example"},
    ]
    assert hello["presence"] == both
    assert await next_event(alice) == {"type": "presence", "presence": both}
    second_tab, hello = await connect(jp_ws_fetch, pid, "bob")  # same user: no change
    assert hello["presence"] == both
    bob.close()
    second_tab.close()
    assert await next_event(alice) == {"type": "presence", "presence": both[:1]}
    assert await drain(alice) == []
    alice.close()


async def test_runs_stream_status_and_outputs_to_members(api, jp_ws_fetch, jp_serverapp):
    """A shared server: outputs never go on the global bus, but members get them."""
    pid = await make_project(api, bob="viewer")
    ws, _ = await connect(jp_ws_fetch, pid, "bob")
    r = await api(
        "POST",
        f"projects/{pid}/blocks",
        json_body={
            "source": "import time\nprint('tick', flush=True)\ntime.sleep(0.5)\nprint('tock')"
        },
    )
    bid = r.body["id"]
    await next_event(ws)  # block-created
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    run_id = r.body["id"]
    seen = []
    while not any(e["type"] == "run-status" and e["status"] == "succeeded" for e in seen):
        seen.append(await next_event(ws))
    statuses = [e["status"] for e in seen if e["type"] == "run-status"]
    assert statuses == ["queued", "running", "succeeded"]
    assert all(
        e["run_id"] == run_id and e["block_id"] == bid for e in seen if e["type"] == "run-status"
    )
    kernel = [e for e in seen if e["type"] == "kernel-status"]
    assert kernel
    assert kernel[0]["state"] == "started"
    assert "dag-changed" in [e["type"] for e in seen]
    outputs = [e for e in seen if e["type"] == "run-output"]
    assert outputs, [e["type"] for e in seen]
    assert "tick" in outputs[0]["outputs"][0]["text"]
    assert outputs[0]["run_id"] == run_id

    # a pipeline's block runs name it
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": "true"}
    )
    assert r.status == 200, r.body
    pipeline = r.body["id"]
    events = []
    while not any(
        e["type"] == "run-status" and e["run_id"] == pipeline and e["status"] == "succeeded"
        for e in events
    ):
        events.append(await next_event(ws))
    block_runs = [e for e in events if e["type"] == "run-status" and e["run_id"] != pipeline]
    assert block_runs
    assert all(e["pipeline_id"] == pipeline for e in block_runs)
    assert [e["status"] for e in events if e["type"] == "pipeline-block"][-1] == "succeeded"
    ws.close()


async def test_global_bus_carries_no_names_on_a_shared_server(api, jp_ws_fetch):
    bus = await jp_ws_fetch("api", "events", "subscribe", headers=auth("dave"))  # no member
    pid = await make_project(api, name="Secret Project")
    ws, _ = await connect(jp_ws_fetch, pid, "alice")
    good = pd.DataFrame({"secret_col": [1, 2]})
    r = await upload(api, pid, "secret_sales", as_bytes("csv", good), filename="s.csv")
    assert r.status == 201, r.body
    did = r.body["dataset"]["id"]
    rule = {"kind": "not_null", "column": "secret_col"}
    assert (await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)).status == 201
    bad = pd.DataFrame({"secret_col": [1, None]})
    r = await upload(api, pid, "secret_sales", as_bytes("csv", bad), filename="s.csv")
    assert r.status == 201, r.body

    mine = await until(ws, "dataset-version", version=2)
    assert mine["name"] == "secret_sales"
    assert mine["quality_failed"] == ["not_null secret_col"]
    assert (await next_event(ws))["type"] == "dag-changed"

    public = []
    while len([e for e in public if e["schema_id"].endswith("dataset-version/v1")]) < 2:
        public.append(json.loads(await asyncio.wait_for(bus.read_message(), 15)))
    versions = [e for e in public if e["schema_id"].endswith("dataset-version/v1")]
    assert versions[1]["quality_failed"] == ["not_null"]
    assert versions[1]["quality_passed"] is False
    text = json.dumps(public)
    for secret in ("secret_sales", "secret_col", "Secret Project"):
        assert secret not in text
    bus.close()
    ws.close()


async def test_refused_upgrades_are_json_errors(api):
    """Tornado's own refusals of the upgrade (a plain GET, a bad Connection header, an
    unknown WebSocket version) answer the documented JSON error, not text/html."""
    pid = await make_project(api)
    cases = [
        ({}, 400),
        ({"Upgrade": "websocket", "Connection": "keep-alive"}, 400),
        ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "7"}, 426),
    ]
    for headers, status in cases:
        r = await api("GET", f"projects/{pid}/events", headers=headers)
        assert r.status == status, headers
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.error["message"]


async def test_refusals_are_not_logged_as_crashes(api, caplog):
    """A 404 or 400 before the upgrade is a client error: logged briefly, with no
    traceback (it used to be logged as an uncaught exception)."""
    pid = await make_project(api)
    caplog.set_level(logging.INFO)
    for path in ("projects/0/events", "projects/x/events", f"projects/{pid + 1}/events"):
        r = await api("GET", path)
        assert r.status == 404, path
    assert not [rec for rec in caplog.records if rec.exc_info], caplog.text
    assert "-> 404" in caplog.text
