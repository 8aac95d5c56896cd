"""Block execution in real project kernels: outputs, artifacts, queue order, roles, events."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time

import pytest
from conftest import make_project


@pytest.fixture
def extension_config():
    return {"output_text_limit": 200}


PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


async def blocks(api, pid, *sources, user="alice"):
    specs = [{"source": s} for s in sources]
    r = await api("POST", f"projects/{pid}/blocks/bulk", user=user, json_body={"blocks": specs})
    assert r.status == 201, r.body
    return [b["id"] for b in r.body["items"]]


async def run(api, pid, bid, user="alice"):
    r = await api(
        "POST", f"projects/{pid}/blocks/{bid}/execute", user=user, params={"wait": "true"}
    )
    assert r.status == 200, r.body
    return r.body


@pytest.mark.gateway
async def test_state_persists_between_blocks_and_kernel_is_listed(api, jp_fetch):
    pid = await make_project(api)
    a, b, c = await blocks(
        api, pid, "x = 41", "print(x + 1)", "get_ipython()._ai_notebook_ext_loaded"
    )
    first = await run(api, pid, a)
    assert first["status"] == "succeeded"
    assert first["outputs"] == []
    second = await run(api, pid, b)
    assert second["status"] == "succeeded"
    assert second["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "42\n"}]
    assert second["execution_count"] == first["execution_count"] + 1
    assert second["kernel_generation"] == first["kernel_generation"] == 1
    assert second["started_at"] <= second["finished_at"]
    ext = await run(api, pid, c)  # the kernel-side extension is preloaded
    assert ext["outputs"][0]["data"]["text/plain"] == "True"

    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    assert kernel["state"] in ("idle", "busy")
    assert kernel["kernel_name"] == "ai-notebook-python"
    r = await jp_fetch("api", "kernels", headers={"Authorization": "token token-alice"})
    assert kernel["kernel_id"] in [k["id"] for k in json.loads(r.body)]
    r = await jp_fetch("api", "sessions", headers={"Authorization": "token token-alice"})
    sessions = [s for s in json.loads(r.body) if s["kernel"]["id"] == kernel["kernel_id"]]
    assert [s["type"] for s in sessions] == ["ai-notebook"]

    block = (await api("GET", f"projects/{pid}/blocks/{b}")).body
    assert block["last_run_id"] == second["id"]
    page = (await api("GET", f"projects/{pid}/runs")).body
    assert [r["id"] for r in page["items"]] == [ext["id"], second["id"], first["id"]]
    only_b = (await api("GET", f"projects/{pid}/runs", params={"block_id": b})).body
    assert [r["id"] for r in only_b["items"]] == [second["id"]]
    # Run lists say who ran each run (the run history shows it).
    assert {r["username"] for r in page["items"]} == {"alice"}


async def test_kernel_runs_in_the_project_working_dir(api, jp_serverapp):
    r = await api("POST", "projects", json_body={"name": "wd", "working_dir": "teams/data/wd"})
    pid = r.body["id"]
    assert r.body["working_dir"] == "teams/data/wd"
    (bid,) = await blocks(api, pid, "import os; print(os.getcwd())")
    out = await run(api, pid, bid)
    expected = (jp_serverapp.root_dir.rstrip("/") + "/teams/data/wd").replace("//", "/")
    assert out["outputs"][0]["text"].strip() == expected
    for bad in ["../outside", "/etc", "a/../../b"]:
        r = await api("POST", "projects", json_body={"name": "x", "working_dir": bad})
        assert r.status == 400, bad
        assert r.error["details"]["errors"][0]["field"] == "working_dir"


@pytest.mark.gateway
async def test_output_kinds_and_artifacts(api, jp_fetch):
    pid = await make_project(api)
    code = f"""
from IPython.display import display, Image, HTML, clear_output, update_display
import base64, sys
print("to be cleared")
clear_output()
print("out")
print("err", file=sys.stderr)
display(HTML("<b>bold</b>"))
h = display({{"text/plain": "v1"}}, raw=True, display_id=True)
h.update({{"text/plain": "v2"}}, raw=True)
display(Image(data=base64.b64decode("{PNG}"), format="png"))
print("x" * 300)
7 * 6
"""
    (bid,) = await blocks(api, pid, code)
    out = await run(api, pid, bid)
    assert out["status"] == "succeeded", out
    outputs = out["outputs"]
    kinds = [(o["output_type"], o.get("name")) for o in outputs]
    # stdout and stderr are two streams the kernel flushes on their own: Jupyter does not
    # order one against the other (on a loaded machine stderr may come first)
    assert sorted(kinds[:2]) == [("stream", "stderr"), ("stream", "stdout")]
    assert kinds[2:] == [
        ("display_data", None),
        ("display_data", None),
        ("display_data", None),
        ("stream", "stdout"),
        ("execute_result", None),
    ]
    streams = {o["name"]: o["text"] for o in outputs[:2]}
    assert streams == {"stdout": "out\n", "stderr": "err\n"}  # "to be cleared" is gone
    assert outputs[2]["data"]["text/html"] == "<b>bold</b>"
    assert outputs[3]["data"] == {"text/plain": "v2"}  # update_display_data honoured
    image = outputs[4]
    assert "image/png" not in image["data"]
    ref = image["artifacts"]["image/png"]
    assert ref["size"] == len(base64.b64decode(PNG))
    long_text = outputs[5]  # over the configured output_text_limit (200 in this module)
    assert len(long_text["text"]) == 200
    assert long_text["artifacts"]["text/plain"]["truncated"] is True
    assert outputs[6]["data"]["text/plain"] == "42"
    assert outputs[6]["execution_count"] == out["execution_count"]

    r = await jp_fetch(
        "ai-notebook",
        "api",
        "projects",
        str(pid),
        "artifacts",
        ref["id"],
        headers={"Authorization": "token token-alice"},
    )
    assert r.headers["Content-Type"] == "image/png"
    assert r.body == base64.b64decode(PNG)
    text_ref = long_text["artifacts"]["text/plain"]["id"]
    r = await jp_fetch(
        "ai-notebook",
        "api",
        "projects",
        str(pid),
        "artifacts",
        text_ref,
        headers={"Authorization": "token token-alice"},
    )
    assert r.body.decode() == "x" * 300 + "\n"
    # another project cannot read it, and unknown ids are 404
    other = await make_project(api, "other", user="bob")
    r = await api("GET", f"projects/{other}/artifacts/{ref['id']}", user="bob")
    assert r.status == 404
    r = await api("GET", f"projects/{pid}/artifacts/{'0' * 64}")
    assert r.status == 404
    r = await api("GET", f"projects/{pid}/artifacts/..%2F..%2Fetc")
    assert r.status == 404


@pytest.mark.gateway
async def test_error_run(api):
    pid = await make_project(api)
    (bid,) = await blocks(api, pid, "1/0")
    out = await run(api, pid, bid)
    assert out["status"] == "failed"
    assert out["error"]["ename"] == "ZeroDivisionError"
    assert out["error"]["reason"] == "error"
    assert out["message"] == "ZeroDivisionError: division by zero"
    assert out["outputs"][-1]["output_type"] == "error"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out["outputs"][-1]["traceback"]))
    assert "1/0" in plain


async def test_markdown_roles_and_missing_blocks(api):
    pid = await make_project(api, bob="viewer", carol="editor")
    r = await api("POST", f"projects/{pid}/blocks", json_body={"kind": "markdown", "source": "# t"})
    md = r.body["id"]
    r = await api("POST", f"projects/{pid}/blocks/{md}/execute")
    assert r.status == 400
    assert "markdown" in r.error["message"]
    (code,) = await blocks(api, pid, "1")
    assert (await api("POST", f"projects/{pid}/blocks/{code}/execute", user="bob")).status == 403
    assert (await api("POST", f"projects/{pid}/blocks/{code}/execute", user="dave")).status == 404
    assert (await api("POST", f"projects/{pid}/blocks/999/execute")).status == 404
    r = await api("POST", f"projects/{pid}/blocks/{code}/execute", json_body={"x": 1})
    assert r.status == 400
    # wait is a boolean as the OpenAPI document says: true/false (1/0), nothing else
    for wait in ("maybe", "", "True", "yes", "2"):
        r = await api("POST", f"projects/{pid}/blocks/{code}/execute", params={"wait": wait})
        assert r.status == 400, wait
        assert r.error["details"] == {"field": "wait"}
    for bad in ({"block_id": "1_0"}, {"block_id": "+1"}, {"kind": ""}, {"limit": "501"}):
        assert (await api("GET", f"projects/{pid}/runs", params=bad)).status == 400, bad
    assert (await api("GET", f"projects/{pid}/runs")).body["total"] == 0
    out = await run(api, pid, code, user="carol")
    assert out["status"] == "succeeded"
    assert (await api("GET", f"projects/{pid}/runs/{out['id']}", user="bob")).status == 200
    assert (await api("POST", f"projects/{pid}/kernel/restart", user="bob")).status == 403
    assert (await api("GET", f"projects/{pid}/runs", params={"status": "odd"})).status == 400


async def test_twenty_concurrent_executes_run_in_order_without_interleaving(api, jp_serverapp):
    pid = await make_project(api)
    code = (
        "import time\n"
        "for i in range(5):\n"
        "    print(f'{TAG}-{i}', flush=True)\n"
        "    time.sleep(0.01)\n"
        "order.append(TAG)"
    )
    (init,) = await blocks(api, pid, "order = []")
    await run(api, pid, init)
    ids = await blocks(api, pid, *[f"TAG = {n}\n" + code for n in range(20)])
    responses = [
        api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"}) for bid in ids
    ]
    # Fire them all at once; the queue keeps arrival order. Arrival is when the handler
    # takes its place (RunService.reserve, watched here): the next request goes once the
    # previous one has arrived, since the server may read two sockets in either order.
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    reserve, arrived = app.services.runs.reserve, []
    app.services.runs.reserve = lambda project: arrived.append(project) or reserve(project)
    tasks = []
    for coro in responses:
        tasks.append(asyncio.ensure_future(coro))
        deadline = time.monotonic() + 30
        while len(arrived) < len(tasks):
            assert time.monotonic() < deadline, "a request never reached the handler"
            await asyncio.sleep(0.001)
    results = await asyncio.gather(*tasks)
    runs = [r.body for r in results]
    assert all(r["status"] == "succeeded" for r in runs), [r["message"] for r in runs]
    assert [r["execution_count"] for r in runs] == sorted(r["execution_count"] for r in runs)
    for n, r in enumerate(runs):
        assert r["outputs"] == [
            {
                "output_type": "stream",
                "name": "stdout",
                "text": "".join(f"{n}-{i}\n" for i in range(5)),
            }
        ]
    for earlier, later in itertools.pairwise(runs):
        assert earlier["finished_at"] <= later["started_at"]
    (check,) = await blocks(api, pid, "print(order)")
    assert (await run(api, pid, check))["outputs"][0]["text"].strip() == str(list(range(20)))


async def test_two_projects_run_at_the_same_time(api):
    p1 = await make_project(api, "one")
    p2 = await make_project(api, "two")
    (b1,) = await blocks(api, p1, "import time; time.sleep(1.5)")
    (b2,) = await blocks(api, p2, "import time; time.sleep(1.5)")
    await run(api, p1, (await blocks(api, p1, "pass"))[0])  # kernels warm
    await run(api, p2, (await blocks(api, p2, "pass"))[0])
    start = time.monotonic()
    r1, r2 = await asyncio.gather(run(api, p1, b1), run(api, p2, b2))
    assert r1["status"] == r2["status"] == "succeeded"
    assert r1["started_at"] < r2["finished_at"]
    assert r2["started_at"] < r1["finished_at"]  # the two runs overlapped
    assert time.monotonic() - start < 2.9


@pytest.mark.gateway
async def test_kernel_control_endpoints(api):
    pid = await make_project(api)
    r = await api("GET", f"projects/{pid}/kernel")
    assert r.body["state"] == "not_started"
    assert r.body["generation"] == 0
    assert (await api("POST", f"projects/{pid}/kernel/restart")).status == 409
    a, b = await blocks(api, pid, "y = 1", "print(y)")
    await run(api, pid, a)
    r = await api("POST", f"projects/{pid}/kernel/restart")
    assert r.status == 200
    assert r.body["generation"] == 2
    assert r.body["reset_reason"] == "restarted on request"
    out = await run(api, pid, b)
    assert out["status"] == "failed"
    assert out["error"]["ename"] == "NameError"  # state was lost
    assert (await api("POST", f"projects/{pid}/kernel/interrupt")).status == 200
    assert (await api("DELETE", f"projects/{pid}/kernel")).status == 204
    r = await api("GET", f"projects/{pid}/kernel")
    assert r.body["state"] == "not_started"
    assert r.body["reset_reason"] == "shut down on request"
    assert (await run(api, pid, a))["kernel_generation"] == 3  # started again on demand


async def test_a_restarted_kernel_is_handed_back_idle_and_set_up(api, jp_fetch, jp_serverapp):
    """Start and restart return once our setup code has run: the kernel is idle then, not
    busy with the setup a moment later, and `ain` is configured for the first block."""
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    kernels = app.services.runs.kernels
    setup = kernels.setup
    kernels.setup = lambda pid: setup(pid) + "\nimport time as _t\n_t.sleep(1.5)\ndel _t"
    pid = await make_project(api)
    (a,) = await blocks(api, pid, "print(ain.list())")
    first = await run(api, pid, a)
    assert first["status"] == "succeeded", first
    r = await api("POST", f"projects/{pid}/kernel/restart")
    assert r.status == 200, r.body
    assert (r.body["state"], r.body["generation"]) == ("idle", 2), r.body
    now = await api("GET", f"projects/{pid}/kernel")
    assert now.body["state"] == "idle", now.body
    assert (await kernel_model(jp_fetch, r.body["kernel_id"]))["execution_state"] == "idle"
    # Jupyter's restart had settled, so our client took the activity tracking over.
    km = jp_serverapp.kernel_manager
    assert km.get_kernel(r.body["kernel_id"])._activity_stream is None
    again = await run(api, pid, a)
    assert again["status"] == "succeeded", again
    assert again["outputs"] == first["outputs"]


async def run_in(api, pid, rid, statuses, within=30.0):
    """The run once its status is one of ``statuses``."""
    deadline = time.monotonic() + within
    while True:
        found = (await api("GET", f"projects/{pid}/runs/{rid}")).body
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, f"run {rid} still {found['status']}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("method", "path", "done"),
    [("POST", "kernel/restart", "restarted"), ("DELETE", "kernel", "shut down")],
)
async def test_restart_and_shutdown_cancel_the_queued_runs(api, method, path, done):
    """Queued runs expect the state the kernel loses: they are cancelled, never run in the
    new kernel; the running one fails as its kernel died; the queue is not stuck: the next
    request runs (in a kernel started again after a shutdown)."""
    pid = await make_project(api)
    slow, after, fresh = await blocks(
        api, pid, "import time; time.sleep(60)", "print('ran after')", "print('fresh')"
    )
    assert (await run(api, pid, fresh))["status"] == "succeeded"  # the kernel is up
    running = (await api("POST", f"projects/{pid}/blocks/{slow}/execute")).body
    queued = [(await api("POST", f"projects/{pid}/blocks/{after}/execute")).body for _ in "ab"]
    await run_in(api, pid, running["id"], {"running"})
    state = (await api("GET", f"projects/{pid}/kernel")).body
    assert state["queued_run_ids"] == [q["id"] for q in queued], state

    r = await api(method, f"projects/{pid}/{path}")
    assert r.status in (200, 204), r.body
    for q in queued:
        ended = (await api("GET", f"projects/{pid}/runs/{q['id']}")).body
        assert ended["status"] == "cancelled", ended
        assert ended["message"] == f"cancelled: the kernel was {done}", ended
        assert ended["started_at"] is None, ended
    stopped = await run_in(api, pid, running["id"], {"failed", "succeeded", "cancelled"})
    assert stopped["status"] == "failed", stopped
    if done == "restarted":
        assert stopped["error"]["reason"] == "kernel_died", stopped
        assert "restarted on request" in stopped["message"], stopped
    else:
        assert stopped["error"]["reason"] == "kernel", stopped
        assert stopped["message"] == (
            "the kernel was shut down while this block ran (shut down on request); "
            "its state was lost"
        ), stopped
    assert (await api("GET", f"projects/{pid}/kernel")).body["queued_run_ids"] == []
    again = await run(api, pid, fresh)
    assert again["status"] == "succeeded"
    assert again["outputs"][0]["text"] == "fresh\n"
    ran = (await api("GET", f"projects/{pid}/runs", params={"block_id": after})).body
    assert {r["status"] for r in ran["items"]} == {"cancelled"}, ran


async def test_deleting_a_block_cancels_its_queued_runs(api):
    """A block deleted while runs of it wait in the queue: they are cancelled, never run
    (the user removed that code); other blocks' queued runs and the running one go on."""
    pid = await make_project(api)
    slow, doomed, other = await blocks(
        api, pid, "import time; time.sleep(1.5)", "ran_deleted = True", "print('other')"
    )
    running = (await api("POST", f"projects/{pid}/blocks/{slow}/execute")).body
    queued = [(await api("POST", f"projects/{pid}/blocks/{doomed}/execute")).body for _ in "ab"]
    kept = (await api("POST", f"projects/{pid}/blocks/{other}/execute")).body
    await run_in(api, pid, running["id"], {"running"})

    r = await api("DELETE", f"projects/{pid}/blocks/{doomed}", params={"version": 1})
    assert r.status == 204, r.body
    for q in queued:
        ended = (await api("GET", f"projects/{pid}/runs/{q['id']}")).body
        assert ended["status"] == "cancelled", ended
        assert ended["message"] == "cancelled: its block was deleted", ended
        assert ended["started_at"] is None, ended
    state = (await api("GET", f"projects/{pid}/kernel")).body
    assert state["queued_run_ids"] == [kept["id"]], state
    assert (await run_in(api, pid, running["id"], {"succeeded", "failed"}))["status"] == (
        "succeeded"
    )
    done = await run_in(api, pid, kept["id"], {"succeeded", "failed", "cancelled"})
    assert done["outputs"][0]["text"] == "other\n", done
    (probe,) = await blocks(api, pid, "print('ran_deleted' in globals())")
    assert (await run(api, pid, probe))["outputs"][0]["text"] == "False\n"


async def test_waiting_for_a_reply_ends_when_the_client_closes(api, jp_serverapp):
    """A restart or shutdown closes our client while a run may wait for its shell reply:
    the wait ends with no reply (the run ends with what it has), not with a CancelledError
    that would leave the run recorded as running."""
    from jupyter_client.session import Session

    from ai_notebook_ext.execution.iopub import IopubReader
    from ai_notebook_ext.execution.runner import _shell_reply

    pid = await make_project(api)
    (a,) = await blocks(api, pid, "1")
    await run(api, pid, a)
    kid = (await api("GET", f"projects/{pid}/kernel")).body["kernel_id"]
    kernel = jp_serverapp.kernel_manager.get_kernel(kid)
    session = Session(key=kernel.session.key, signature_scheme=kernel.session.signature_scheme)
    client = kernel.client(session=session)
    client.start_channels()
    await client.wait_for_ready(timeout=30)
    reader = IopubReader(client, None)
    reader.start()
    waiting = asyncio.ensure_future(_shell_reply(reader.subscribe("no-such-request"), 20.0))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    client.stop_channels()
    assert await asyncio.wait_for(waiting, timeout=5) is None
    assert time.monotonic() - started < 5
    assert reader.closed


async def kernel_model(jp_fetch, kid):
    r = await jp_fetch("api", "kernels", kid, headers={"Authorization": "token token-alice"})
    return json.loads(r.body)


async def wait_for_state(jp_fetch, kid, state, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        model = await kernel_model(jp_fetch, kid)
        if model["execution_state"] == state:
            return model
        await asyncio.sleep(0.05)
    raise AssertionError(f"kernel {kid} never became {state}: {model}")


async def test_kernel_activity_is_recorded_from_our_client(api, jp_fetch, jp_serverapp):
    """Our client reads every iopub message, so it records the activity /api/kernels shows
    (and the culler reads) and Jupyter's own tracker, which would decode each message a
    second time, is stopped. Activity of other clients (a console) is recorded too."""
    pid = await make_project(api)
    (a,) = await blocks(api, pid, "import time; time.sleep(0.3)")
    await run(api, pid, a)
    kid = (await api("GET", f"projects/{pid}/kernel")).body["kernel_id"]
    km = jp_serverapp.kernel_manager
    assert km.get_kernel(kid)._activity_stream is None  # Jupyter's tracker is off
    before = await wait_for_state(jp_fetch, kid, "idle")

    # Our own runs: busy while one runs, idle after, last_activity moves on.
    submitted = await api("POST", f"projects/{pid}/blocks/{a}/execute")
    assert submitted.status == 202
    await wait_for_state(jp_fetch, kid, "busy")
    after_run = await wait_for_state(jp_fetch, kid, "idle")
    assert after_run["last_activity"] > before["last_activity"]

    # A console's execute (another client of the same kernel) is activity as well.
    console = km.get_kernel(kid).client()
    console.start_channels()
    try:
        await console.wait_for_ready(timeout=30)
        console.execute("import time; time.sleep(0.5)")
        await wait_for_state(jp_fetch, kid, "busy")
        after_console = await wait_for_state(jp_fetch, kid, "idle")
    finally:
        console.stop_channels()
    assert after_console["last_activity"] > after_run["last_activity"]

    # A restart hands tracking to Jupyter while our client reconnects, then takes it back.
    assert (await api("POST", f"projects/{pid}/kernel/restart")).status == 200
    assert km.get_kernel(kid)._activity_stream is None
    assert (await run(api, pid, a))["status"] == "succeeded"
    restarted = await wait_for_state(jp_fetch, kid, "idle")
    assert restarted["last_activity"] > after_console["last_activity"]

    # Shut down: nothing of ours is left reading.
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    handle = app.services.runs.kernels.handle(pid)
    assert handle is not None
    assert handle.reader is not None
    assert (await api("DELETE", f"projects/{pid}/kernel")).status == 204
    assert handle.reader is None
    assert handle.client is None


async def read_events(ws, pid):
    """Our events for project ``pid`` until its run reaches a final status."""
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = json.loads(await asyncio.wait_for(ws.read_message(), timeout=10))
        if event.get("project_id") == pid and "ai_notebook_ext" in event.get("schema_id", ""):
            seen.append(event)
            if event.get("status") in ("succeeded", "failed"):
                break
    ws.close()
    return seen


async def test_output_events_are_off_by_default_on_a_multi_user_server(api, jp_ws_fetch):
    ws = await jp_ws_fetch(
        "api", "events", "subscribe", headers={"Authorization": "token token-bob"}
    )
    pid = await make_project(api)
    (bid,) = await blocks(api, pid, "print('secret output')")
    await run(api, pid, bid)
    seen = await read_events(ws, pid)
    statuses = [e["status"] for e in seen if e["schema_id"].endswith("run-status/v1")]
    assert statuses == ["queued", "running", "succeeded"]
    assert not [e for e in seen if e["schema_id"].endswith("run-output/v1")]
    assert "secret output" not in json.dumps(seen)


@pytest.mark.parametrize("extension_config", [{"event_outputs": True}])
async def test_run_events_arrive_on_the_event_stream(api, jp_ws_fetch, extension_config):
    ws = await jp_ws_fetch(
        "api", "events", "subscribe", headers={"Authorization": "token token-alice"}
    )
    pid = await make_project(api)
    (bid,) = await blocks(
        api, pid, "import time\nprint('tick', flush=True)\ntime.sleep(0.4)\nprint('tock')"
    )
    out = await run(api, pid, bid)
    seen = await read_events(ws, pid)
    statuses = [e["status"] for e in seen if e["schema_id"].endswith("run-status/v1")]
    assert statuses == ["queued", "running", "succeeded"]
    chunks = [e for e in seen if e["schema_id"].endswith("run-output/v1")]
    assert chunks, seen
    assert chunks[0]["run_id"] == out["id"]
    assert "tick" in chunks[0]["outputs"][0]["text"]
    assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
