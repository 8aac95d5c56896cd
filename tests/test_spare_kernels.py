"""Spare kernels (execution/spares.py): a project's first run takes a kernel started
ahead, which is then indistinguishable from one started for the project.

Real server (ProjectAuthorizer, several identities), real kernels. pytest-jupyter's
server does not run the extension's start hook (Jupyter Server calls it once its event
loop runs): the tests call it, as the server would.
"""

from __future__ import annotations

import asyncio
import gc
import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import make_project
from identity import TokenUsers
from test_jupyter_kernel_auth import jupyter, kernel_ids, refused_socket, session_kernels

from ai_notebook_ext.auth import ProjectAuthorizer
from ai_notebook_ext.startup import GC_THRESHOLD
from ai_notebook_ext.store.types import utcnow

PROBE = """
import json, os, sys
from ai_notebook_ext.kernel.datasets import ain as _ain
_ip = get_ipython()
print(json.dumps({
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "session": globals().get("__session__"),
    "dh": [str(p) for p in _dh],
    "ain_project": _ain.project_id,
    "ain_store": str(getattr(_ain.store, "url", None)),
    "ai_magic": _ip.find_cell_magic("ai") is not None,
    "ext": getattr(_ip, "_ai_notebook_ext_loaded", False),
    "hidden": sorted(k for k in _ip.user_ns if k.startswith("_ainb")),
}, sort_keys=True))
"""


@pytest.fixture
def jp_server_config(db_url: str, tmp_path: Any, gateway_config: dict[str, Any]) -> dict:
    return {
        **gateway_config,
        "ServerApp": {
            "jpserver_extensions": {"ai_notebook_ext": True},
            "identity_provider_class": TokenUsers,
            "authorizer_class": ProjectAuthorizer,
        },
        "AINotebookApp": {
            "database_url": db_url,
            "data_dir": str(tmp_path / "ainb-data"),
            "admin_users": ["root"],
            "spare_kernels": 1,
            "gc_tuning": False,  # the test process is shared
        },
    }


def extension(jp_serverapp: Any) -> Any:
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    return app


async def server_started(jp_serverapp: Any) -> Any:
    """Run the extension's start hook, as Jupyter Server does once it runs; the pool."""
    app = extension(jp_serverapp)
    await app._start_jupyter_server_extension(jp_serverapp)
    return app.services.runs.kernels.spares


async def spare_ready(pool: Any, within: float = 90) -> str:
    """The id of the pool's ready spare, once there is one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pool.spares:
        assert loop.time() < deadline, "no spare kernel became ready"
        await asyncio.sleep(0.1)
    return pool.spares[0].kernel_id


async def probe(api: Any, pid: int, bid: int) -> dict[str, Any]:
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    assert r.body["status"] == "succeeded", (r.body["status"], r.body["outputs"])
    return json.loads(r.body["outputs"][0]["text"])


async def project_kernel(api: Any, pid: int) -> str:
    return str((await api("GET", f"projects/{pid}/kernel")).body["kernel_id"])


async def test_adopted_spare_is_like_a_kernel_started_for_the_project(api, jp_serverapp):
    pool = await server_started(jp_serverapp)
    spare_id = await spare_ready(pool)
    pid = await make_project(api, "warm")
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": PROBE})
    assert r.status == 201, r.body
    bid = r.body["id"]

    adopted = await probe(api, pid, bid)
    assert await project_kernel(api, pid) == spare_id  # the first run took the spare
    assert adopted["ai_magic"]
    assert adopted["ext"]
    assert adopted["ain_project"] == pid
    assert adopted["hidden"] == []  # adoption left no names behind
    assert adopted["cwd"] != jp_serverapp.root_dir  # the project folder, not the root

    # A restart starts the kernel where a project kernel starts, with its environment.
    r = await api("POST", f"projects/{pid}/kernel/restart")
    assert r.status == 200, r.body
    restarted = await probe(api, pid, bid)

    # The same project with a kernel started for it (no spare left to take).
    await pool.close()
    assert (await api("DELETE", f"projects/{pid}/kernel")).status == 204
    cold = await probe(api, pid, bid)
    assert await project_kernel(api, pid) != spare_id

    for name, other in (("restarted", restarted), ("cold", cold)):
        assert adopted["env"] == other["env"], name
        assert adopted == other, name
    assert cold["session"].startswith(cold["cwd"] + "/")


async def test_pool_refills_and_a_second_project_takes_the_next_spare(api, jp_serverapp):
    pool = await server_started(jp_serverapp)
    first = await spare_ready(pool)
    a = await make_project(api, "a")
    assert (await api("POST", f"projects/{a}/kernel")).status == 200
    assert await project_kernel(api, a) == first
    second = await spare_ready(pool)  # refilled in the background
    assert second != first
    b = await make_project(api, "b")
    assert (await api("POST", f"projects/{b}/kernel")).status == 200
    assert await project_kernel(api, b) == second
    await spare_ready(pool)


async def test_spares_belong_to_the_server_until_adopted(api, jp_serverapp, jp_fetch, jp_ws_fetch):
    pool = await server_started(jp_serverapp)
    spare_id = await spare_ready(pool)
    pid = await make_project(api, "shared", bob="viewer")
    # Before adoption: no session, nobody's kernel; only admins see it.
    for user in ("alice", "bob", "dave"):
        assert spare_id not in await kernel_ids(jp_fetch, user), user
        assert (await jupyter(jp_fetch, "GET", "kernels", spare_id, user=user))[0] == 403
        for action in ("interrupt", "restart"):
            status, _ = await jupyter(jp_fetch, "POST", "kernels", spare_id, action, user=user)
            assert status == 403, (user, action)
        assert (await jupyter(jp_fetch, "DELETE", "kernels", spare_id, user=user))[0] == 403
        assert await refused_socket(jp_ws_fetch, spare_id, user) == 403
    assert spare_id in await kernel_ids(jp_fetch, "root")
    assert spare_id not in await session_kernels(jp_fetch, "root")

    # After adoption: the project's kernel, for its members only.
    assert (await api("POST", f"projects/{pid}/kernel")).status == 200
    assert await project_kernel(api, pid) == spare_id
    for user in ("alice", "bob"):
        assert spare_id in await kernel_ids(jp_fetch, user), user
        assert spare_id in await session_kernels(jp_fetch, user), user
    assert spare_id not in await kernel_ids(jp_fetch, "dave")
    assert (await jupyter(jp_fetch, "GET", "kernels", spare_id, user="dave"))[0] == 403
    assert (await jupyter(jp_fetch, "POST", "kernels", spare_id, "restart", user="bob"))[0] == 403
    assert await refused_socket(jp_ws_fetch, spare_id, "dave") == 403


async def test_spares_are_culled_and_shut_down_with_the_server(api, jp_serverapp):
    pool = await server_started(jp_serverapp)
    km = jp_serverapp.kernel_manager
    spare_id = await spare_ready(pool)
    assert spare_id in km
    culler = extension(jp_serverapp)._culler
    culler.timeout = 0.01
    await culler.cull(utcnow() + timedelta(seconds=1))  # the spare may be a few ms old
    assert spare_id not in km
    assert pool.spares == []
    await asyncio.sleep(0.5)
    assert pool.spares == []
    assert pool._filler is None or pool._filler.done()  # dormant

    # The next kernel start asks for a spare: none (a kernel of its own), then a refill.
    pid = await make_project(api, "after")
    assert (await api("POST", f"projects/{pid}/kernel")).status == 200
    assert await project_kernel(api, pid) != spare_id
    refill = await spare_ready(pool)
    # The server's stop shuts the spare down with the project kernels.
    await extension(jp_serverapp).stop_extension()
    assert refill not in km
    assert list(km.list_kernel_ids()) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_no_spares_when_disabled(api, jp_serverapp):
    app = extension(jp_serverapp)
    pool = app.services.runs.kernels.spares
    pool.size = 0
    await app._start_jupyter_server_extension(jp_serverapp)
    await asyncio.sleep(0.5)
    assert pool.spares == []
    assert pool._filler is None
    assert list(jp_serverapp.kernel_manager.list_kernel_ids()) == []


@pytest.mark.gateway(only=True)
async def test_no_spares_on_a_gateway(api, jp_serverapp, kernel_host):
    """A gateway fixes a kernel's folder and environment at its start: no spares."""
    pool = await server_started(jp_serverapp)
    assert not pool.enabled()
    await asyncio.sleep(0.5)
    assert pool.spares == []
    assert pool._filler is None
    pid = await make_project(api, "remote")
    assert (await api("POST", f"projects/{pid}/kernel")).status == 200
    assert pool.spares == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_set_up_server_tunes_the_garbage_collector(api, jp_serverapp):
    """gc_tuning (on by default): once warmed up, the setup is frozen and young
    collections are spaced (startup.tune_gc). Restored after, for the other tests."""
    app = extension(jp_serverapp)
    app.gc_tuning = True
    before = gc.get_threshold()
    try:
        await app._start_jupyter_server_extension(jp_serverapp)
        await asyncio.wait_for(app._warmup, 60)
        assert gc.get_threshold() == GC_THRESHOLD != before
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_a_kernel_our_client_took_over_while_starting_is_idle(jp_serverapp):
    """Jupyter's activity tracker may not have read a new kernel's first status messages
    when our client takes the tracking over (a spare then gets no more messages): the
    kernel must not stay "starting" in /api/kernels."""
    from ai_notebook_ext.execution.kernel_connect import open_client

    km = jp_serverapp.kernel_manager
    kernel_id = await km.start_kernel(kernel_name="python3")
    try:
        kernel = km.get_kernel(kernel_id)
        kernel._activity_stream.on_recv(lambda _msg: None)  # a tracker behind: it reads nothing
        kernel.execution_state = "starting"
        client, reader, _pid = await open_client(km, kernel_id, 60)
        try:
            assert reader.activity is not None  # the tracking is ours
            assert kernel._activity_stream is None
            assert km.kernel_model(kernel_id)["execution_state"] == "idle"
        finally:
            reader.stop()
            client.stop_channels()
    finally:
        await km.shutdown_kernel(kernel_id, now=True)
