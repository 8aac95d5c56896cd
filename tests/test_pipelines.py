"""Pipeline runs against real kernels: targets, staleness, failures, retries, cancel."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import make_project


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


async def add_blocks(api, pid, *sources):
    specs = [{"source": s} for s in sources]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs})
    assert r.status == 201, r.body
    return [b["id"] for b in r.body["items"]]


async def pipeline(api, pid, user="alice", wait=True, **body):
    r = await api(
        "POST",
        f"projects/{pid}/runs",
        user=user,
        json_body=body,
        params={"wait": "true"} if wait else None,
    )
    assert r.status == (200 if wait else 202), r.body
    return r.body


def outcome(run):
    return {r["block_id"]: r["status"] for r in run["results"]}


async def block_runs(api, pid, bid):
    r = await api("GET", f"projects/{pid}/runs", params={"block_id": bid, "limit": 500})
    assert r.status == 200, r.body
    return r.body["items"]


async def states(api, pid):
    r = await api("GET", f"projects/{pid}/dag")
    assert r.status == 200, r.body
    return {n["block_id"]: n["state"] for n in r.body["nodes"]}


async def edit(api, pid, bid, source):
    version = (await api("GET", f"projects/{pid}/blocks/{bid}")).body["version"]
    r = await api(
        "PATCH", f"projects/{pid}/blocks/{bid}", json_body={"version": version, "source": source}
    )
    assert r.status == 200, r.body


@pytest.mark.gateway
async def test_all_runs_every_block_in_dependency_order(api, jp_ws_fetch):
    ws = await jp_ws_fetch(
        "api", "events", "subscribe", headers={"Authorization": "token token-alice"}
    )
    pid = await make_project(api)
    a, b, c = await add_blocks(api, pid, "x = 40", "y = x + 1", "print(y + 1)")
    run = await pipeline(api, pid, target="all")
    assert run["kind"] == "pipeline"
    assert run["status"] == "succeeded", run
    assert run["plan"] == [a, b, c]
    assert outcome(run) == {a: "succeeded", b: "succeeded", c: "succeeded"}
    assert run["message"] == "3 succeeded"
    assert run["options"]["target"] == "all"
    last = await block_runs(api, pid, c)
    assert last[0]["parent_id"] == run["id"]
    assert last[0]["outputs"][0]["text"] == "42\n"
    assert {r["block_id"]: r["run_id"] for r in run["results"]}[c] == last[0]["id"]
    assert set((await states(api, pid)).values()) == {"fresh"}
    # The stored pipeline run is what the response said.
    stored = (await api("GET", f"projects/{pid}/runs/{run['id']}")).body
    assert stored["results"] == run["results"]
    kinds = await api("GET", f"projects/{pid}/runs", params={"kind": "pipeline"})
    assert [r["id"] for r in kinds.body["items"]] == [run["id"]]

    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = json.loads(await asyncio.wait_for(ws.read_message(), timeout=10))
        if event.get("schema_id", "").endswith("pipeline-block/v1") and event["project_id"] == pid:
            seen.append((event["block_id"], event["status"]))
            if (c, "succeeded") in seen:
                break
    ws.close()
    assert [s for s in seen if s[0] == a] == [
        (a, "pending"),  # announced with the plan: clients show it queued at once
        (a, "running"),
        (a, "running"),
        (a, "succeeded"),
    ]
    assert seen[-1] == (c, "succeeded")


async def test_stale_after_an_edit_runs_exactly_the_edited_block_and_its_descendants(api):
    pid = await make_project(api)
    a, b, c, d = await add_blocks(api, pid, "x = 1", "y = x * 10", "z = y + 1", "w = x - 1")
    await pipeline(api, pid, target="all")
    nothing = await pipeline(api, pid, target="stale")
    assert nothing["plan"] == []
    assert nothing["status"] == "succeeded"
    assert "nothing to run" in nothing["message"]

    await edit(api, pid, b, "y = x * 100")
    run = await pipeline(api, pid, target="stale")
    assert run["plan"] == [b, c]
    assert outcome(run) == {b: "succeeded", c: "succeeded"}
    for bid, count in ((a, 1), (b, 2), (c, 2), (d, 1)):
        assert len(await block_runs(api, pid, bid)) == count, bid
    check = await add_blocks(api, pid, "print(z, w)")
    out = await pipeline(api, pid, target="blocks", block_ids=check)
    assert out["plan"] == check  # everything it needs is fresh
    assert (await block_runs(api, pid, check[0]))[0]["outputs"][0]["text"] == "101 0\n"


async def test_upstream_and_downstream_targets(api):
    pid = await make_project(api)
    a, b, c, d = await add_blocks(api, pid, "x = 1", "y = x + 1", "z = y + 1", "other = 5")
    up = await pipeline(api, pid, target="upstream", block_id=c)
    assert up["plan"] == [a, b, c]
    assert {r["block_id"]: r["reason"] for r in up["results"]}[a] == (
        f"needed by block {c} (never-run)"
    )
    again = await pipeline(api, pid, target="upstream", block_id=c)
    assert again["plan"] == [c]  # its needs are fresh now; the target itself always runs
    down = await pipeline(api, pid, target="downstream", block_id=b)
    assert down["plan"] == [b, c]
    assert outcome(down) == {b: "succeeded", c: "succeeded"}
    assert len(await block_runs(api, pid, d)) == 0


@pytest.mark.gateway
async def test_a_failure_skips_its_descendants_and_independent_branches_go_on(api):
    pid = await make_project(api)
    a, b, c, d = await add_blocks(api, pid, "x = 1", "y = x / 0", "z = y + 1", "w = x + 1")
    run = await pipeline(api, pid, target="all")
    assert run["status"] == "failed"
    assert outcome(run) == {a: "succeeded", b: "failed", c: "skipped", d: "succeeded"}
    reasons = {r["block_id"]: r["reason"] for r in run["results"]}
    assert "ZeroDivisionError" in reasons[b]
    assert reasons[c] == f"upstream block {b} failed"
    assert run["message"] == "2 succeeded, 1 failed, 1 skipped"
    assert await block_runs(api, pid, c) == []

    stopped = await pipeline(api, pid, target="all", stop_on_error=True)
    assert outcome(stopped) == {a: "succeeded", b: "failed", c: "skipped", d: "skipped"}
    reasons = {r["block_id"]: r["reason"] for r in stopped["results"]}
    assert reasons[d] == f"stopped after block {b} failed (stop_on_error)"


async def test_retries_rerun_a_failed_block(api):
    pid = await make_project(api)
    (flaky,) = await add_blocks(
        api,
        pid,
        "tries = globals().get('tries', 0) + 1\nif tries < 3:\n    raise RuntimeError('flaky')",
    )
    run = await pipeline(api, pid, target="all", retries=2)
    assert run["status"] == "succeeded", run
    (result,) = run["results"]
    assert result["attempts"] == 3
    runs = await block_runs(api, pid, flaky)
    assert [r["status"] for r in runs] == ["succeeded", "failed", "failed"]
    assert result["run_id"] == runs[0]["id"]

    (always,) = await add_blocks(api, pid, "raise ValueError('never')")
    run = await pipeline(api, pid, target="blocks", block_ids=[always], retries=1)
    assert run["status"] == "failed"
    assert run["results"][0]["attempts"] == 2
    assert len(await block_runs(api, pid, always)) == 2


@pytest.mark.gateway
async def test_cancel_stops_the_running_block_and_cancels_the_rest(api):
    pid = await make_project(api)
    a, b = await add_blocks(api, pid, "import time\nfor _ in range(300): time.sleep(0.1)", "y = 1")
    run = await pipeline(api, pid, wait=False, target="all")
    assert run["status"] == "running"
    deadline = time.monotonic() + 30
    while True:
        current = (await api("GET", f"projects/{pid}/runs/{run['id']}")).body
        if current["results"][0]["status"] == "running" and current["results"][0]["run_id"]:
            break
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.1)
    started = time.monotonic()
    r = await api("POST", f"projects/{pid}/runs/{run['id']}/cancel")
    assert r.status == 200, r.body
    while True:
        current = (await api("GET", f"projects/{pid}/runs/{run['id']}")).body
        if current["status"] != "running":
            break
        assert time.monotonic() - started < 10, current
        await asyncio.sleep(0.1)
    assert current["status"] == "cancelled"
    assert outcome(current) == {a: "cancelled", b: "cancelled"}
    assert (await block_runs(api, pid, a))[0]["status"] == "cancelled"
    assert await block_runs(api, pid, b) == []
    r = await api("POST", f"projects/{pid}/runs/{run['id']}/cancel")
    assert r.status == 409  # it has ended


async def test_bad_pipeline_requests_are_refused_and_change_nothing(api):
    pid = await make_project(api, bob="viewer")
    (a,) = await add_blocks(api, pid, "x = 1")
    cases = [
        ({"target": "everything"}, 400, "target"),
        ({"target": "upstream"}, 400, "block_id"),
        ({"target": "blocks"}, 400, "block_ids"),
        ({"target": "blocks", "block_ids": []}, 400, "block_ids"),
        ({"target": "downstream", "block_id": 999999}, 404, "block_id"),
        ({"target": "all", "parallel": 0}, 400, "parallel"),
        ({"target": "all", "parallel": 17}, 400, "parallel"),
        ({"target": "all", "retries": -1}, 400, "retries"),
        ({"target": "all", "stop_on_error": "yes"}, 400, "stop_on_error"),
        ({"target": "all", "extra": 1}, 400, "extra"),
    ]
    for body, status, field in cases:
        r = await api("POST", f"projects/{pid}/runs", json_body=body)
        assert r.status == status, (body, r.body)
        assert field in json.dumps(r.error), (body, r.error)
    r = await api("POST", f"projects/{pid}/runs", user="bob", json_body={"target": "all"})
    assert r.status == 403
    r = await api("POST", f"projects/{pid}/runs", user="carol", json_body={"target": "all"})
    assert r.status == 404
    r = await api("GET", f"projects/{pid}/runs")
    assert r.body["total"] == 0
    assert a
