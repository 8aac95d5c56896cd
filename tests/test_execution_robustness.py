"""The run loop survives what the review found could break it: restarts and shutdowns
during a run, server-side failures, kernel text no database accepts, restarts from
JupyterLab, and error text on a shared event bus."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import make_project
from identity import auth


async def blocks(api, pid, *sources):
    r = await api(
        "POST",
        f"projects/{pid}/blocks/bulk",
        json_body={"blocks": [{"source": s} for s in sources]},
    )
    assert r.status == 201, r.body
    return [b["id"] for b in r.body["items"]]


async def start(api, pid, bid):
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute")
    assert r.status == 202, r.body
    return r.body["id"]


async def final(api, pid, run_id, within=30.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = (await api("GET", f"projects/{pid}/runs/{run_id}")).body
        if run["status"] not in ("queued", "running"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run['status']} after {within} s")


async def wait_running(api, pid, run_id):
    for _ in range(200):
        if (await api("GET", f"projects/{pid}/runs/{run_id}")).body["status"] == "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("run never started")


async def test_a_failure_inside_the_server_fails_the_run_instead_of_leaving_it_running(
    api, jp_serverapp
):
    app = next(iter(jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]))
    store = app.services.runs.artifacts

    def broken_put(data: bytes) -> str:  # fault injection: a full disk
        raise OSError(28, "No space left on device")

    store.put = broken_put
    pid = await make_project(api)
    (bid, ok) = await blocks(
        api,
        pid,
        "from IPython.display import Image\nImage(b'\\x89PNG fake', format='png')",
        "print(1)",
    )
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.status == 200
    assert r.body["status"] == "failed"
    assert r.body["error"]["reason"] == "internal"
    assert "OSError" in r.body["message"]
    assert (await api("GET", f"projects/{pid}/runs/{r.body['id']}")).body["status"] == "failed"
    r = await api("POST", f"projects/{pid}/blocks/{ok}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded"  # the worker is still there


async def test_kernel_text_no_database_accepts_is_stored_cleaned(api, jp_fetch):
    pid = await make_project(api)
    nul, mime = await blocks(
        api,
        pid,
        "raise ValueError('a\\x00b')",
        "from IPython.display import display\n"
        "display({'application/x-' + 'a' * 300: 'aGVsbG8='}, raw=True)",
    )
    r = await api("POST", f"projects/{pid}/blocks/{nul}/execute", params={"wait": "true"})
    assert r.body["status"] == "failed"
    assert r.body["message"] == "ValueError: a\ufffdb"
    stored = (await api("GET", f"projects/{pid}/runs/{r.body['id']}")).body
    assert stored["error"]["evalue"] == "a\ufffdb"
    r = await api("POST", f"projects/{pid}/blocks/{mime}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    (art,) = r.body["outputs"][0]["artifacts"].values()
    raw = await jp_fetch(
        "ai-notebook", "api", "projects", str(pid), "artifacts", art["id"], headers=auth("alice")
    )
    assert raw.body == b"hello"
    assert raw.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.gateway
async def test_a_restart_from_jupyterlab_is_noticed(api, jp_fetch):
    pid = await make_project(api)
    setx, usex = await blocks(api, pid, "x = 1", "x")
    first = (
        await api("POST", f"projects/{pid}/blocks/{setx}/execute", params={"wait": "true"})
    ).body
    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    r = await jp_fetch(
        "api",
        "kernels",
        kernel["kernel_id"],
        "restart",
        method="POST",
        body="",
        headers=auth("alice"),
    )
    assert r.code == 200
    # Heard at once (Jupyter Server's kernel_actions event), not at the next run: the
    # generation moves on and the block that ran is stale, saying why.
    for _ in range(100):
        dag = (await api("GET", f"projects/{pid}/dag")).body
        if dag["kernel_generation"] == first["kernel_generation"] + 1:
            break
        await asyncio.sleep(0.1)
    assert dag["kernel_generation"] == first["kernel_generation"] + 1
    node = next(n for n in dag["nodes"] if n["block_id"] == setx)
    assert node["state"] == "stale"
    assert node["stale_reason"] == "it has not run successfully since the kernel (re)started"
    second = (
        await api("POST", f"projects/{pid}/blocks/{usex}/execute", params={"wait": "true"})
    ).body
    assert second["error"]["ename"] == "NameError"
    assert second["kernel_generation"] == first["kernel_generation"] + 1
    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    assert kernel["reset_reason"] == "the kernel was restarted outside AI Notebook"


async def test_a_shutdown_from_jupyterlab_is_noticed(api, jp_fetch):
    """JupyterLab's running-kernels panel shuts the project kernel down: the blocks say at
    once that no kernel holds their results, and the next run starts a new kernel."""
    pid = await make_project(api)
    (setx,) = await blocks(api, pid, "x = 1")
    r = await api("POST", f"projects/{pid}/blocks/{setx}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    r = await jp_fetch(
        "api", "kernels", kernel["kernel_id"], method="DELETE", headers=auth("alice")
    )
    assert r.code == 204
    for _ in range(100):
        dag = (await api("GET", f"projects/{pid}/dag")).body
        if dag["kernel_generation"] is None:
            break
        await asyncio.sleep(0.1)
    assert dag["kernel_generation"] is None
    (node,) = dag["nodes"]
    assert node["state"] == "stale"
    assert node["stale_reason"].startswith("no kernel is running")
    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    assert kernel["state"] == "not_started"
    assert kernel["reset_reason"] == "the kernel was shut down outside AI Notebook"
    r = await api("POST", f"projects/{pid}/blocks/{setx}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body


async def test_error_text_stays_off_a_shared_event_bus(api, jp_ws_fetch):
    ws = await jp_ws_fetch("api", "events", "subscribe", headers=auth("bob"))
    pid = await make_project(api)
    (bid,) = await blocks(api, pid, "raise RuntimeError('db password is hunter2')")
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["message"] == "RuntimeError: db password is hunter2"  # members see it
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = json.loads(await asyncio.wait_for(ws.read_message(), timeout=10))
        if event.get("project_id") == pid:
            seen.append(event)
            if event.get("status") == "failed":
                break
    ws.close()
    assert seen[-1]["status"] == "failed"
    assert seen[-1]["message"] == "RuntimeError"
    assert "hunter2" not in json.dumps(seen)


async def test_a_block_printing_without_end_keeps_server_memory_bounded(api, monkeypatch):
    from ai_notebook_ext.execution import outputs

    monkeypatch.setattr(outputs, "STREAM_MEMORY_CAP", 20_000)
    pid = await make_project(api)
    (bid,) = await blocks(api, pid, "for i in range(200_000):\n    print(f'line {i:06d}')")
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded"
    (out,) = r.body["outputs"]
    assert out["text"].startswith("line 000000\n")
    assert out["text"].endswith("line 199999\n")
    assert "characters left out" in out["text"]
    assert len(out["text"]) < 25_000  # of 2.4 million printed


async def test_closing_another_session_on_the_project_kernel_keeps_it(api, jp_fetch):
    """JupyterLab's notebook session (or a console) on the project kernel: deleting it
    ("No Kernel" in the kernel switcher, closing the console) leaves the project's kernel
    and its state alone; the project's own shutdown still stops it."""
    pid = await make_project(api)
    setx, usex = await blocks(api, pid, "x = 41", "print(x + 1)")
    first = (
        await api("POST", f"projects/{pid}/blocks/{setx}/execute", params={"wait": "true"})
    ).body
    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    body = {"path": "p.ipynb", "type": "notebook", "kernel": {"id": kernel["kernel_id"]}}
    r = await jp_fetch(
        "api", "sessions", method="POST", body=json.dumps(body), headers=auth("alice")
    )
    session = json.loads(r.body)
    assert session["kernel"]["id"] == kernel["kernel_id"]
    r = await jp_fetch("api", "sessions", session["id"], method="DELETE", headers=auth("alice"))
    assert r.code == 204
    r = await jp_fetch("api", "kernels", kernel["kernel_id"], headers=auth("alice"))
    assert r.code == 200  # still there
    second = (
        await api("POST", f"projects/{pid}/blocks/{usex}/execute", params={"wait": "true"})
    ).body
    assert second["status"] == "succeeded", second
    assert second["outputs"][0]["text"] == "42\n"
    assert second["kernel_generation"] == first["kernel_generation"]
    # The project's own session still takes its kernel down with it.
    assert (await api("DELETE", f"projects/{pid}/kernel")).status in (200, 204)
    r = await jp_fetch(
        "api", "kernels", kernel["kernel_id"], headers=auth("alice"), raise_error=False
    )
    assert r.code == 404
