"""Sequential pipelines send the next block ahead: it never runs after a failure.

The next block's execute_request waits in the kernel while the current block runs. The
kernel aborts it when the current one fails (ipykernel's stop_on_error, and the chain
guard of kernel/chain.py for a request arriving after the failure), and the pipeline
records it exactly as without send-ahead: skipped, with no block run.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import make_project

from ai_notebook_ext.execution import runner


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


def services(jp_serverapp):
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    return app.services


async def add_blocks(api, pid, *sources):
    specs = [{"source": s} for s in sources]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs})
    assert r.status == 201, r.body
    return [b["id"] for b in r.body["items"]]


async def pipeline(api, pid, wait=True, **body):
    params = {"wait": "true"} if wait else None
    r = await api("POST", f"projects/{pid}/runs", json_body=body, params=params)
    assert r.status == (200 if wait else 202), r.body
    return r.body


async def block_runs(api, pid, bid):
    r = await api("GET", f"projects/{pid}/runs", params={"block_id": bid})
    assert r.status == 200, r.body
    return r.body["items"]


async def kernel_value(api, pid, expression):
    (bid,) = await add_blocks(api, pid, f"print(repr({expression}))")
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    return r.body["outputs"][0]["text"].strip()


async def test_the_next_block_waits_in_the_kernel_while_the_current_one_runs(api, jp_serverapp):
    pid = await make_project(api)
    await pipeline(api, pid, target="all")  # nothing to run; the kernel starts below
    a, b = await add_blocks(api, pid, "import time\ntime.sleep(1.5)\nx = 1", "y = x + 1")
    (warm,) = await add_blocks(api, pid, "pass")
    await api("POST", f"projects/{pid}/blocks/{warm}/execute", params={"wait": "true"})
    run = await pipeline(api, pid, wait=False, target="blocks", block_ids=[a, b])
    state = services(jp_serverapp).pipelines._active[run["id"]]
    deadline = time.monotonic() + 20
    while state.ahead is None or state.ahead[1].sent is None:
        assert time.monotonic() < deadline, "the next block was never sent ahead"
        await asyncio.sleep(0.02)
    assert state.ahead[0] == b
    assert state.current is not None  # a runs; b's request is already in the kernel
    assert await block_runs(api, pid, b) == []  # and has no run until a succeeded
    ended = await services(jp_serverapp).pipelines.wait(run["id"])
    assert ended is not None
    assert ended.status == "succeeded", ended
    (b_run,) = await block_runs(api, pid, b)
    assert b_run["status"] == "succeeded"
    assert b_run["source"] == "y = x + 1"


async def test_a_block_after_a_failing_one_does_not_run(api, tmp_path):
    marker = tmp_path / "ran"
    pid = await make_project(api)
    a, b, c, d = await add_blocks(
        api,
        pid,
        "x = 1",
        "import time\ntime.sleep(0.3)\ny = x / 0",
        f"open({str(marker)!r}, 'a').write('c')\nz = y + 1",
        "w = x + 1",
    )
    run = await pipeline(api, pid, target="all")
    assert run["status"] == "failed"
    outcome = {r["block_id"]: r["status"] for r in run["results"]}
    assert outcome == {a: "succeeded", b: "failed", c: "skipped", d: "succeeded"}
    reasons = {r["block_id"]: r["reason"] for r in run["results"]}
    assert reasons[c] == f"upstream block {b} failed"
    assert await block_runs(api, pid, c) == []
    assert not marker.exists(), "the block after the failing one ran"
    assert await kernel_value(api, pid, "'z' in globals()") == "False"

    stopped = await pipeline(api, pid, target="blocks", block_ids=[a, b, c, d], stop_on_error=True)
    outcome = {r["block_id"]: r["status"] for r in stopped["results"]}
    assert outcome == {a: "succeeded", b: "failed", c: "skipped", d: "skipped"}
    assert len(await block_runs(api, pid, d)) == 1  # only the first pipeline's
    assert not marker.exists()


async def test_retries_run_before_the_block_sent_ahead(api):
    pid = await make_project(api)
    flaky, after = await add_blocks(
        api,
        pid,
        "tries = globals().get('tries', 0) + 1\nif tries < 2:\n    raise RuntimeError('flaky')",
        "seen = tries",
    )
    run = await pipeline(api, pid, target="all", retries=1)
    assert run["status"] == "succeeded", run
    assert await kernel_value(api, pid, "seen") == "2"
    assert [r["status"] for r in await block_runs(api, pid, flaky)] == ["succeeded", "failed"]
    assert [r["status"] for r in await block_runs(api, pid, after)] == ["succeeded"]


async def test_the_kernel_aborts_a_chained_request_unless_its_predecessor_succeeded(
    api, jp_serverapp
):
    # Sent after the failure has been handled: ipykernel's own abort is over by then,
    # so only the chain guard (kernel/chain.py) can stop it.
    pid = await make_project(api)
    (bid,) = await add_blocks(api, pid, "hits = []")
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded"
    runs = services(jp_serverapp).runs
    handle = runs.kernels.handle(pid)

    async def execute(code, after=None):
        sent = runner.send(handle, code, after=after)

        async def ignore(_collector):
            return None

        result = await runner.execute(
            runs.kernels,
            handle,
            code,
            time_limit=30,
            cancel=asyncio.Event(),
            on_output=ignore,
            sent=sent,
        )
        return sent, result

    failed, result = await execute("1 / 0")
    assert result.status == "failed"
    _, chained = await execute("hits.append('after failure')", after=failed.msg_id)
    assert chained.status == "aborted"
    assert chained.execution_count is None
    ok, result = await execute("hits.append('ok')")
    assert result.status == "succeeded"
    _, chained = await execute("hits.append('after success')", after=ok.msg_id)
    assert chained.status == "succeeded"
    assert await kernel_value(api, pid, "hits") == "['ok', 'after success']"
