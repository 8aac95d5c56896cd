"""Idle project kernels are culled after kernel_idle_timeout and come back on the next
run; busy kernels, kernels with work queued and kernels another client runs code in are
left alone. Real kernels with a short timeout."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import make_project
from ws_events import connect, until

TIMEOUT = 1.5
CULLED = re.compile(r"^culled after \d+ s idle$")


@pytest.fixture
def extension_config():
    return {"default_timeout": 60, "kernel_idle_timeout": TIMEOUT}


def services(jp_serverapp):
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    return app.services


async def execute(api, pid, source):
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source})
    assert r.status == 201, r.body
    r = await api("POST", f"projects/{pid}/blocks/{r.body['id']}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    return r.body


async def kernel(api, pid):
    return (await api("GET", f"projects/{pid}/kernel")).body


async def until_culled(api, pid, within=30.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (state := await kernel(api, pid))["state"] != "not_started":
        assert loop.time() < deadline, state
        await asyncio.sleep(0.2)
    return state


async def test_an_idle_kernel_is_culled_recorded_and_restarts_on_the_next_run(
    api, jp_serverapp, jp_ws_fetch
):
    pid = await make_project(api)
    ws, _ = await connect(jp_ws_fetch, pid, "alice")
    first = await execute(api, pid, "x = 1")
    assert first["status"] == "succeeded"
    kid = (await kernel(api, pid))["kernel_id"]

    event = await until(ws, "kernel-status", within=30, state="shutdown")
    assert CULLED.match(event["reason"]), event
    state = await until_culled(api, pid)
    assert CULLED.match(state["reset_reason"]), state
    assert kid not in jp_serverapp.kernel_manager

    again = await execute(api, pid, "print('x' in globals())")
    assert again["status"] == "succeeded", again
    assert again["outputs"][0]["text"] == "False\n"  # a new kernel: its state is empty
    assert again["kernel_generation"] == first["kernel_generation"] + 1
    assert (await kernel(api, pid))["kernel_id"] != kid
    ws.close()


async def test_a_busy_kernel_is_not_culled(api):
    pid = await make_project(api)
    out = await execute(api, pid, f"import time\ntime.sleep({TIMEOUT * 3})\ndone = 1")
    assert out["status"] == "succeeded", out  # still the same kernel at the end
    assert (await execute(api, pid, "print(done)"))["outputs"][0]["text"] == "1\n"


async def test_a_kernel_with_work_in_its_queue_is_not_culled(api, jp_serverapp):
    pid = await make_project(api)
    await execute(api, pid, "y = 1")
    runs = services(jp_serverapp).runs
    ticket = runs.reserve(pid)  # a request's place, its run not yet made
    try:
        await asyncio.sleep(TIMEOUT * 3)
        assert (await kernel(api, pid))["state"] == "idle"
    finally:
        runs.abandon(ticket)
    state = await until_culled(api, pid)
    assert CULLED.match(state["reset_reason"]), state


async def test_code_another_client_runs_keeps_the_kernel(api, jp_serverapp):
    """A notebook attached to the project kernel executing keeps it busy."""
    pid = await make_project(api)
    await execute(api, pid, "z = 1")
    kid = (await kernel(api, pid))["kernel_id"]
    client = jp_serverapp.kernel_manager.get_kernel(kid).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=30)
        msg_id = client.execute(f"import time\ntime.sleep({TIMEOUT * 3})\nz = 2")
        while True:
            reply = await client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
    assert kid in jp_serverapp.kernel_manager
    assert (await execute(api, pid, "print(z)"))["outputs"][0]["text"] == "2\n"
    await until_culled(api, pid)


async def test_zero_never_culls(jp_serverapp):
    from ai_notebook_ext.execution.culling import KernelCuller, check_interval

    runs = services(jp_serverapp).runs
    listener = runs.kernels.on_state
    KernelCuller(runs.kernels, runs.queues, 0).attach()
    assert runs.kernels.on_state is listener  # nothing hooked, no loop
    assert check_interval(3600) == 60
    assert check_interval(1) == 0.5
