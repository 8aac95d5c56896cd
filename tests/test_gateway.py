"""Project kernels on a real Jupyter Enterprise Gateway (the server in gateway mode).

The execution, pipeline, parallel and dataset suites run here too (their tests marked
``@pytest.mark.gateway``); these tests cover what differs on a gateway: no kernel
process on the server's machine, so a kernel's death is learnt from the gateway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from conftest import make_project
from test_execution_failures import (
    DIED,
    add_block,
    assert_crash_recovered,
    execute,
    kernel,
    kernel_pid,
    run_code,
    start_with_state,
    stdout,
    wait_for,
    wait_run,
)

pytestmark = pytest.mark.gateway(only=True)


async def test_project_kernels_live_on_the_gateway(api, jp_serverapp, gateway_server):
    from jupyter_server.gateway.managers import GatewayKernelClient, GatewayMappingKernelManager

    assert isinstance(jp_serverapp.kernel_manager, GatewayMappingKernelManager)
    pid = await make_project(api)
    first = await run_code(api, pid, "import os; x = 41; os.environ.get('KERNEL_GATEWAY')")
    assert first["status"] == "succeeded", first
    assert first["outputs"][0]["data"]["text/plain"] == "'1'"  # EG's launch environment
    second = await run_code(api, pid, "print(x + 1)")
    assert stdout(second) == "42\n", second
    k = await kernel(api, pid)
    assert k["state"] == "idle", k
    runs = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    (app,) = runs
    handle = app.services.runs.kernels.handle(pid)
    assert isinstance(handle.client, GatewayKernelClient)
    assert handle.remote
    assert k["kernel_id"] in jp_serverapp.kernel_manager  # the gateway's kernel id


async def test_a_crash_is_reported_and_the_kernel_recovers(api):
    pid, generation = await start_with_state(api)
    bid = await add_block(api, pid, "import os; os._exit(1)")
    crashed = await execute(api, pid, bid)
    assert "the gateway restarted it" in crashed["message"], crashed
    await assert_crash_recovered(api, pid, bid, crashed, generation)


async def test_an_external_kill_while_running_is_reported(api, tmp_path):
    pid, generation = await start_with_state(api)
    kpid = await kernel_pid(api, pid)  # EG's local process proxy: a process on this machine
    marker = tmp_path / "sleeping"
    bid = await add_block(
        api,
        pid,
        f"print('sleeping', flush=True); open({str(marker)!r}, 'w').close()\n"
        "import time; time.sleep(60)",
    )
    queued = await execute(api, pid, bid, wait=False)
    await wait_run(api, pid, queued["id"], {"running"})
    await wait_for(marker.exists, "the block to start sleeping")
    await asyncio.sleep(0.3)  # let the flushed output reach the server
    started = time.monotonic()
    os.kill(kpid, signal.SIGKILL)
    crashed = await wait_run(api, pid, queued["id"], within=30)
    assert time.monotonic() - started < 20
    assert DIED in crashed["message"], crashed
    assert stdout(crashed) == "sleeping\n", crashed  # output before the kill is kept
    await assert_crash_recovered(api, pid, bid, crashed, generation)
    assert await kernel_pid(api, pid) != kpid
