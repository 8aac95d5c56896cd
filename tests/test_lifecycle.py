"""Project lifecycle in the server: a deleted project's kernel, session and folder go,
ids are never handed out twice, idle kernels are culled and come back on the next run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import make_project

TOKEN = {"Authorization": "token token-alice"}


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


async def add_blocks(api, pid, *sources):
    ids = []
    for source in sources:
        r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source})
        assert r.status == 201, r.body
        ids.append(r.body["id"])
    return ids


async def run(api, pid, bid, wait=True):
    r = await api(
        "POST",
        f"projects/{pid}/blocks/{bid}/execute",
        params={"wait": "true"} if wait else None,
    )
    assert r.status in (200, 202), r.body
    return r.body


async def sessions(jp_fetch):
    r = await jp_fetch("api", "sessions", headers=TOKEN)
    return {s["kernel"]["id"] for s in json.loads(r.body)}


async def test_delete_shuts_the_kernel_and_session_down_and_removes_the_empty_folder(
    api, jp_fetch, jp_serverapp
):
    pid = await make_project(api)
    (bid,) = await add_blocks(api, pid, "x = 1")
    assert (await run(api, pid, bid))["status"] == "succeeded"
    kernel = (await api("GET", f"projects/{pid}/kernel")).body
    kid = kernel["kernel_id"]
    folder = Path(jp_serverapp.root_dir) / (await api("GET", f"projects/{pid}")).body["working_dir"]
    assert kid in jp_serverapp.kernel_manager
    assert kid in await sessions(jp_fetch)
    assert folder.is_dir()

    assert (await api("DELETE", f"projects/{pid}")).status == 204
    assert kid not in jp_serverapp.kernel_manager
    assert kid not in await sessions(jp_fetch)
    assert not folder.exists()
    assert folder.parent.is_dir()  # only the project's own folder goes


async def test_delete_keeps_a_folder_with_files_and_stops_runs_in_progress(
    api, jp_fetch, jp_serverapp
):
    pid = await make_project(api)
    wrote, sleeper, queued = await add_blocks(
        api,
        pid,
        "open('keep.txt', 'w').write('mine')",
        "import time\ntime.sleep(30)",
        "y = 2",
    )
    assert (await run(api, pid, wrote))["status"] == "succeeded"
    folder = Path(jp_serverapp.root_dir) / f"ai-notebook/project-{pid}"
    sleeping = await run(api, pid, sleeper, wait=False)
    waiting = await run(api, pid, queued, wait=False)
    for _ in range(300):
        state = (await api("GET", f"projects/{pid}/runs/{sleeping['id']}")).body["status"]
        if state == "running":
            break
        await asyncio.sleep(0.1)
    kid = (await api("GET", f"projects/{pid}/kernel")).body["kernel_id"]

    assert (await api("DELETE", f"projects/{pid}")).status == 204
    assert kid not in jp_serverapp.kernel_manager
    assert kid not in await sessions(jp_fetch)
    assert (folder / "keep.txt").read_text() == "mine"  # user files are never deleted
    r = await api("GET", f"projects/{pid}/runs/{waiting['id']}")
    assert r.status == 404


async def test_a_new_project_never_gets_a_deleted_projects_kernel_or_variables(api, jp_serverapp):
    old = await make_project(api, "old")
    (bid,) = await add_blocks(api, old, "secret = 42")
    assert (await run(api, old, bid))["status"] == "succeeded"
    old_kernel = (await api("GET", f"projects/{old}/kernel")).body["kernel_id"]
    old_block = bid
    assert (await api("DELETE", f"projects/{old}")).status == 204

    new = await make_project(api, "new")
    assert new != old
    (bid,) = await add_blocks(api, new, "print('secret' in globals())")
    assert bid != old_block
    out = await run(api, new, bid)
    assert out["outputs"][0]["text"] == "False\n", out
    assert (await api("GET", f"projects/{new}/kernel")).body["kernel_id"] != old_kernel
    assert old_kernel not in jp_serverapp.kernel_manager


async def test_block_and_project_ids_are_not_reused_after_a_delete(api):
    first = await make_project(api)
    (bid,) = await add_blocks(api, first, "a = 1")
    r = await api("DELETE", f"projects/{first}/blocks/{bid}", params={"version": 1})
    assert r.status == 204, r.body
    (again,) = await add_blocks(api, first, "a = 1")
    assert again != bid
    assert (await api("DELETE", f"projects/{first}")).status == 204
    second = await make_project(api)
    assert second != first


async def test_delete_stops_a_running_parallel_pipeline_and_no_kernel_comes_back(api, jp_serverapp):
    """A pipeline still running when its project is deleted ends with it: its batch
    would otherwise start a new kernel for the deleted project."""
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    services = app.services
    pid = await make_project(api)
    sources = ["import time", *(f"time.sleep(2)\nv{i} = {i}" for i in range(4))]
    await add_blocks(api, pid, *sources)
    r = await api("POST", f"projects/{pid}/runs", json_body={"target": "all", "parallel": 2})
    assert r.status == 202, r.body
    run_id = r.body["id"]
    for _ in range(200):
        current = (await api("GET", f"projects/{pid}/runs/{run_id}")).body
        if any(x["status"] == "running" for x in current["results"][1:]):
            break
        await asyncio.sleep(0.05)
    kids_before = set(jp_serverapp.kernel_manager.list_kernel_ids())

    assert (await api("DELETE", f"projects/{pid}")).status == 204
    assert not [s for s in services.pipelines._active.values() if s.run.project_id == pid]
    await asyncio.sleep(3)  # longer than a block: a batch left going would start a kernel
    assert services.runs.kernels.handle(pid) is None
    assert not set(jp_serverapp.kernel_manager.list_kernel_ids()) - kids_before
