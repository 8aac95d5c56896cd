"""Execution under failure, each against a real kernel: crashes, kills, memory errors,
timeouts, cancellation, client disconnects, and server crashes / clean stops.

The in-process tests use the ``api`` fixture (SQLite and PostgreSQL); the last two start
real ``jupyter server`` processes to kill and stop them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
from conftest import Api, make_project
from identity import auth
from server_process import ServerProcess, tracebacks
from sqlalchemy import text
from tornado.httpclient import HTTPClientError

from ai_notebook_ext.store.database import make_sync_engine

FINAL = {"succeeded", "failed", "cancelled", "interrupted"}
DIED = "kernel died while running this block"
LOST = "its state was lost"


# --- helpers -------------------------------------------------------------------------


async def add_block(api: Api, pid: int, source: str, **extra: Any) -> int:
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source, **extra})
    assert r.status == 201, r.body
    return int(r.body["id"])


async def execute(api: Api, pid: int, bid: int, *, wait: bool = True) -> dict[str, Any]:
    """Run a block; with ``wait`` the finished run (200), else the queued run (202)."""
    r = await api(
        "POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"} if wait else None
    )
    assert r.status == (200 if wait else 202), r.body
    if wait:
        assert r.body["status"] in FINAL, r.body
    return r.body


async def run_code(api: Api, pid: int, source: str, **extra: Any) -> dict[str, Any]:
    """Add a code block and run it to the end."""
    return await execute(api, pid, await add_block(api, pid, source, **extra))


async def get_run(api: Api, pid: int, rid: int) -> dict[str, Any]:
    r = await api("GET", f"projects/{pid}/runs/{rid}")
    assert r.status == 200, r.body
    return r.body


async def list_runs(api: Api, pid: int, **params: Any) -> list[dict[str, Any]]:
    r = await api("GET", f"projects/{pid}/runs", params={"limit": 500, **params})
    assert r.status == 200, r.body
    assert r.body["total"] == len(r.body["items"])
    return r.body["items"]


async def get_block(api: Api, pid: int, bid: int) -> dict[str, Any]:
    r = await api("GET", f"projects/{pid}/blocks/{bid}")
    assert r.status == 200, r.body
    return r.body


async def kernel(api: Api, pid: int) -> dict[str, Any]:
    r = await api("GET", f"projects/{pid}/kernel")
    assert r.status == 200, r.body
    return r.body


async def wait_run(
    api: Api, pid: int, rid: int, statuses: set[str] = FINAL, within: float = 30
) -> dict[str, Any]:
    """Poll a run until its status is one of ``statuses``."""
    deadline = time.monotonic() + within
    while True:
        run = await get_run(api, pid, rid)
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {rid} still {run['status']} after {within} s"
        await asyncio.sleep(0.05)


async def wait_kernel(api: Api, pid: int, generation: int, within: float = 30) -> dict[str, Any]:
    """Poll until the project kernel is up (idle) at ``generation``."""
    deadline = time.monotonic() + within
    while True:
        k = await kernel(api, pid)
        if k["generation"] == generation and k["state"] == "idle":
            return k
        assert time.monotonic() < deadline, f"kernel not idle at generation {generation}: {k}"
        await asyncio.sleep(0.1)


async def wait_for(predicate: Any, what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def stdout(run: dict[str, Any]) -> str:
    return "".join(
        o["text"] for o in run["outputs"] if o["output_type"] == "stream" and o["name"] == "stdout"
    )


def result_text(run: dict[str, Any]) -> str:
    results = [o for o in run["outputs"] if o["output_type"] == "execute_result"]
    assert len(results) == 1, run
    return results[0]["data"]["text/plain"]


async def kernel_pid(api: Api, pid: int) -> int:
    run = await run_code(api, pid, "import os; os.getpid()")
    assert run["status"] == "succeeded", run
    return int(result_text(run))


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def start_with_state(api: Api) -> tuple[int, int]:
    """A project whose kernel runs and holds ``before = 41``; returns (pid, generation)."""
    pid = await make_project(api)
    run = await run_code(api, pid, "before = 41")
    assert run["status"] == "succeeded", run
    assert run["kernel_generation"] == 1
    k = await kernel(api, pid)
    assert k["generation"] == 1
    assert k["state"] == "idle"
    return pid, 1


async def assert_crash_recovered(
    api: Api, pid: int, bid: int, crashed: dict[str, Any], generation: int
) -> None:
    """After a crashed run: recorded as failed, kernel restarted, state gone, next run works."""
    assert crashed["status"] == "failed", crashed
    assert DIED in crashed["message"], crashed
    assert LOST in crashed["message"], crashed
    assert crashed["error"]["reason"] == "kernel_died"
    assert crashed["error"]["ename"] == "KernelDied"
    assert crashed["kernel_generation"] == generation
    assert crashed["finished_at"] is not None

    k = await wait_kernel(api, pid, generation + 1)
    assert k["reset_reason"], k
    assert k["reset_reason"] != "kernel started", k  # a reason for the lost state
    assert k["reset_at"] is not None

    alive = await run_code(api, pid, 'print("alive")')
    assert alive["status"] == "succeeded", alive
    assert stdout(alive) == "alive\n"
    assert alive["kernel_generation"] == generation + 1

    gone = await run_code(api, pid, "before")
    assert gone["status"] == "failed", gone
    assert gone["error"]["ename"] == "NameError", gone
    assert gone["error"]["reason"] == "error"
    assert "before" in gone["error"]["evalue"]
    assert gone["kernel_generation"] == generation + 1

    # The records are intact: the crashed run is stored as failed, and is its block's last run.
    assert await get_run(api, pid, crashed["id"]) == crashed
    assert (await get_block(api, pid, bid))["last_run_id"] == crashed["id"]
    runs = await list_runs(api, pid)  # newest first
    assert [r["status"] for r in runs[:3]] == ["failed", "succeeded", "failed"]
    assert runs[2]["id"] == crashed["id"]
    assert {r["status"] for r in runs[3:]} == {"succeeded"}
    assert (await kernel(api, pid))["generation"] == generation + 1


# --- kernel crashes ----------------------------------------------------------------------


async def test_os_exit_fails_the_run_and_restarts_the_kernel(api):
    pid, generation = await start_with_state(api)
    bid = await add_block(api, pid, "import os; os._exit(1)")
    crashed = await execute(api, pid, bid)
    assert "the kernel process exited with code 1" in crashed["message"], crashed
    await assert_crash_recovered(api, pid, bid, crashed, generation)


async def test_sigkill_from_inside_fails_the_run_and_restarts_the_kernel(api):
    pid, generation = await start_with_state(api)
    bid = await add_block(api, pid, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    crashed = await execute(api, pid, bid)
    assert "the kernel process was killed by SIGKILL" in crashed["message"], crashed
    await assert_crash_recovered(api, pid, bid, crashed, generation)


async def test_external_sigkill_while_running(api, tmp_path):
    # The out-of-memory killer ends a kernel the same way: SIGKILL from outside.
    pid, generation = await start_with_state(api)
    kpid = await kernel_pid(api, pid)
    marker = tmp_path / "sleeping"
    bid = await add_block(
        api,
        pid,
        f"print('sleeping', flush=True); open({str(marker)!r}, 'w').close()\n"
        "import time; time.sleep(60)",
    )
    queued = await execute(api, pid, bid, wait=False)
    assert queued["status"] in {"queued", "running"}  # running: sent at once (idle kernel)
    await wait_run(api, pid, queued["id"], {"running"})
    await wait_for(marker.exists, "the block to start sleeping")
    await asyncio.sleep(0.3)  # let the flushed output reach the server
    started = time.monotonic()
    os.kill(kpid, signal.SIGKILL)
    crashed = await wait_run(api, pid, queued["id"], within=20)
    assert time.monotonic() - started < 10
    assert "killed by SIGKILL (for example by the out-of-memory killer)" in crashed["message"]
    # Output produced before the kill is kept.
    assert stdout(crashed) == "sleeping\n", crashed
    await assert_crash_recovered(api, pid, bid, crashed, generation)
    assert await kernel_pid(api, pid) != kpid


# --- errors the kernel survives ---------------------------------------------------------

# Only the soft limit is lowered, and restored afterwards, so that the kernel is left as
# it was. A real out-of-memory kill by the Linux OOM killer is a SIGKILL from outside,
# which test_external_sigkill_while_running and the SIGKILL test above cover.
MEMORY_HOG = """\
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, hard))
try:
    hog = bytearray(4 * 1024**3)
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
"""


async def test_memory_error_keeps_the_kernel(api):
    pid, generation = await start_with_state(api)
    bid = await add_block(api, pid, MEMORY_HOG)
    run = await execute(api, pid, bid)
    assert run["status"] == "failed", run
    assert run["error"]["ename"] == "MemoryError", run
    assert run["error"]["reason"] == "error"
    assert run["message"].startswith("MemoryError"), run
    assert any(o["output_type"] == "error" for o in run["outputs"])
    assert run["kernel_generation"] == generation

    after = await run_code(api, pid, "print(before + 1)")
    assert after["status"] == "succeeded", after
    assert stdout(after) == "42\n"
    assert after["kernel_generation"] == generation
    k = await kernel(api, pid)
    assert k["generation"] == generation
    assert k["reset_reason"] == "kernel started"
    assert (await get_block(api, pid, bid))["last_run_id"] == run["id"]


@pytest.mark.gateway
async def test_timeout_interrupts_and_keeps_state(api):
    pid, generation = await start_with_state(api)
    bid = await add_block(api, pid, "import time; time.sleep(30)", timeout_seconds=1)
    started = time.monotonic()
    run = await execute(api, pid, bid)
    elapsed = time.monotonic() - started
    assert run["status"] == "failed", run
    assert run["message"] == "timed out after 1 s", run
    assert run["error"]["reason"] == "timeout"
    assert run["error"]["ename"] == "TimeoutError"
    assert run["timeout_seconds"] == 1
    assert 1 <= elapsed < 5, elapsed

    after = await run_code(api, pid, "print(before + 1)")
    assert after["status"] == "succeeded", after
    assert stdout(after) == "42\n"
    assert after["kernel_generation"] == generation
    assert (await kernel(api, pid))["generation"] == generation
    assert (await get_block(api, pid, bid))["last_run_id"] == run["id"]


@pytest.mark.gateway
async def test_timeout_of_code_ignoring_sigint_restarts_the_kernel(api):
    pid, generation = await start_with_state(api)
    bid = await add_block(
        api,
        pid,
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)",
        timeout_seconds=1,
    )
    started = time.monotonic()
    run = await execute(api, pid, bid)
    elapsed = time.monotonic() - started
    assert run["status"] == "failed", run
    assert run["message"].startswith("timed out after 1 s"), run
    assert "the kernel ignored the interrupt and was restarted" in run["message"], run
    assert "state lost" in run["message"], run
    assert run["error"]["reason"] == "timeout"
    assert 5 <= elapsed < 15, elapsed  # 1 s limit + the interrupt grace

    k = await wait_kernel(api, pid, generation + 1)
    assert "interrupt ignored" in k["reset_reason"], k
    gone = await run_code(api, pid, "before")
    assert gone["error"]["ename"] == "NameError", gone
    assert gone["kernel_generation"] == generation + 1
    ok = await run_code(api, pid, "print('fresh')")
    assert stdout(ok) == "fresh\n"


# --- cancellation and disconnects ---------------------------------------------------------


@pytest.mark.gateway
async def test_cancel_running_and_queued_runs(api):
    pid, generation = await start_with_state(api)
    slow = await add_block(api, pid, "import time; time.sleep(30)")
    marker = await add_block(api, pid, "print('must not run'); ran = True")
    running = await execute(api, pid, slow, wait=False)
    queued = await execute(api, pid, marker, wait=False)
    await wait_run(api, pid, running["id"], {"running"})
    assert (await kernel(api, pid))["queued_run_ids"] == [queued["id"]]

    r = await api("POST", f"projects/{pid}/runs/{queued['id']}/cancel")
    assert r.status == 200, r.body
    assert r.body["status"] == "cancelled"
    assert r.body["message"] == "cancelled before it started"
    assert (await kernel(api, pid))["queued_run_ids"] == []

    started = time.monotonic()
    r = await api("POST", f"projects/{pid}/runs/{running['id']}/cancel")
    assert r.status == 200, r.body
    assert r.body["status"] in {"running", "cancelled"}
    cancelled = await wait_run(api, pid, running["id"], within=10)
    assert time.monotonic() - started < 5
    assert cancelled["status"] == "cancelled", cancelled
    assert cancelled["message"] == "cancelled while running", cancelled

    never = await get_run(api, pid, queued["id"])
    assert never["status"] == "cancelled"
    assert never["started_at"] is None
    assert never["kernel_generation"] is None
    assert never["outputs"] == []
    assert (await get_block(api, pid, marker))["last_run_id"] == queued["id"]

    # Cancelling a run that has ended is a conflict, and changes nothing.
    for rid in (running["id"], queued["id"]):
        r = await api("POST", f"projects/{pid}/runs/{rid}/cancel")
        assert r.status == 409, r.body
        assert r.error["details"]["current"]["status"] == "cancelled"

    # The queued block never ran; the interrupted one kept the kernel and its state.
    check = await run_code(api, pid, "print('ran' in globals(), before)")
    assert check["status"] == "succeeded", check
    assert stdout(check) == "False 41\n"
    assert check["kernel_generation"] == generation
    runs = await list_runs(api, pid)
    assert [r["status"] for r in runs] == ["succeeded", "cancelled", "cancelled", "succeeded"]


async def test_a_free_kernel_gets_the_code_at_once_and_a_cancel_still_reaches_it(api):
    """Fast path: nothing queued and the kernel idle, so the run is created running (the
    code went to the kernel before the insert). A cancel sent right after the response,
    possibly before the worker picked the run up, interrupts the kernel; the run behind it
    waits as queued and then runs in the same kernel."""
    pid, generation = await start_with_state(api)
    slow = await add_block(api, pid, "import time\nfor _ in range(600): time.sleep(0.1)")
    after = await add_block(api, pid, "print('after', before)")
    first = await execute(api, pid, slow, wait=False)
    second = await execute(api, pid, after, wait=False)
    assert first["status"] == "running", first
    assert first["started_at"] is not None
    assert first["kernel_generation"] == generation
    assert second["status"] == "queued", second

    r = await api("POST", f"projects/{pid}/runs/{first['id']}/cancel")
    assert r.status == 200, r.body
    cancelled = await wait_run(api, pid, first["id"], within=10)
    assert cancelled["status"] == "cancelled", cancelled
    assert cancelled["message"] == "cancelled while running", cancelled
    done = await wait_run(api, pid, second["id"])
    assert done["status"] == "succeeded", done
    assert stdout(done) == "after 41\n"
    assert done["kernel_generation"] == generation  # interrupted, not restarted
    assert (await get_block(api, pid, slow))["last_run_id"] == first["id"]


async def test_a_cancel_waits_until_the_kernel_begins_the_run(api, jp_serverapp):
    """ipykernel ignores SIGINT until it starts on a request. A run cancelled while the
    kernel still works on another client's code is interrupted once it begins: the other
    code is not hit, and the interrupt is not lost (no restart, state kept)."""
    pid, generation = await start_with_state(api)
    slow = await add_block(api, pid, "import time\nfor _ in range(600): time.sleep(0.1)")
    kid = (await kernel(api, pid))["kernel_id"]
    console = jp_serverapp.kernel_manager.get_kernel(kid).client()
    console.start_channels()
    try:
        await console.wait_for_ready(timeout=30)
        console_msg = console.execute("import time as _t; _t.sleep(3); print('console done')")
        # The console's request is being handled before ours is sent.
        while True:
            msg = await console.get_iopub_msg(timeout=10)
            if (
                msg["parent_header"].get("msg_id") == console_msg
                and msg["msg_type"] == "execute_input"
            ):
                break
        first = await execute(api, pid, slow, wait=False)
        r = await api("POST", f"projects/{pid}/runs/{first['id']}/cancel")
        assert r.status == 200, r.body
        console_out = []
        while True:
            msg = await console.get_iopub_msg(timeout=20)
            if msg["parent_header"].get("msg_id") != console_msg:
                continue
            if msg["msg_type"] in ("stream", "error"):
                console_out.append(msg["content"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        console.stop_channels()
    assert console_out == [{"name": "stdout", "text": "console done\n"}], console_out
    cancelled = await wait_run(api, pid, first["id"], within=20)
    assert cancelled["status"] == "cancelled", cancelled
    assert cancelled["message"] == "cancelled while running", cancelled
    assert cancelled["kernel_generation"] == generation
    check = await run_code(api, pid, "print(before)")
    assert stdout(check) == "41\n", check  # interrupted, not restarted
    assert (await kernel(api, pid))["generation"] == generation


async def test_a_run_that_never_begins_still_times_out(api, jp_serverapp):
    """Another client's code holds the kernel past our run's time limit: after a grace
    period the interrupt goes anyway (it stops that code), then again once our run
    begins; the run fails as timed out, without a restart."""
    pid, generation = await start_with_state(api)
    slow = await add_block(
        api, pid, "import time\nfor _ in range(600): time.sleep(0.1)", timeout_seconds=1
    )
    kid = (await kernel(api, pid))["kernel_id"]
    console = jp_serverapp.kernel_manager.get_kernel(kid).client()
    console.start_channels()
    try:
        await console.wait_for_ready(timeout=30)
        console.execute("import time as _t\nfor _ in range(600): _t.sleep(0.1)")
        run = await execute(api, pid, slow, wait=False)
        ended = await wait_run(api, pid, run["id"], within=30)
    finally:
        console.stop_channels()
    assert ended["status"] == "failed", ended
    assert ended["error"]["reason"] == "timeout", ended
    assert ended["message"] == "timed out after 1 s", ended
    assert (await kernel(api, pid))["generation"] == generation
    check = await run_code(api, pid, "print(before)")
    assert stdout(check) == "41\n", check


async def test_cancel_while_the_kernel_starts_never_runs_the_code(api):
    pid = await make_project(api)
    bid = await add_block(api, pid, "ran = True; print('ran')")
    run = await execute(api, pid, bid, wait=False)
    # The project has no kernel yet: the cancel lands while it starts (about a second).
    r = await api("POST", f"projects/{pid}/runs/{run['id']}/cancel")
    assert r.status == 200, r.body
    cancelled = await wait_run(api, pid, run["id"])
    assert cancelled["status"] == "cancelled", cancelled
    assert cancelled["message"] == "cancelled before it started", cancelled
    assert cancelled["outputs"] == []
    check = await run_code(api, pid, "print('ran' in globals())")
    assert check["status"] == "succeeded", check
    assert stdout(check) == "False\n"
    assert (await get_block(api, pid, bid))["last_run_id"] == run["id"]


async def test_client_disconnect_does_not_stop_the_run(api, jp_fetch):
    pid = await make_project(api)
    bid = await add_block(api, pid, "import time; time.sleep(3); print('done')")
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "ai-notebook",
            "api",
            "projects",
            str(pid),
            "blocks",
            str(bid),
            "execute",
            method="POST",
            body="",
            params={"wait": "true"},
            headers=auth("alice"),
            request_timeout=0.5,
        )
    assert info.value.code == 599  # the client timed out and hung up

    deadline = time.monotonic() + 30
    while True:
        runs = await list_runs(api, pid, block_id=bid)
        assert len(runs) == 1, runs
        if runs[0]["status"] in FINAL:
            break
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.1)
    run = runs[0]
    assert run["status"] == "succeeded", run
    assert stdout(run) == "done\n"
    assert (await get_block(api, pid, bid))["last_run_id"] == run["id"]


# --- real server processes ---------------------------------------------------------------


API = "ai-notebook/api"


def server_call(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    status, data = server.request(method, f"{API}/{path}", body)
    assert status in (200, 201, 202), (status, data)
    return data


def server_wait_run(
    server: ServerProcess, pid: int, rid: int, statuses: set[str], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = server_call(server, "GET", f"projects/{pid}/runs/{rid}")
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def server_run(server: ServerProcess, pid: int, source: str) -> dict[str, Any]:
    block = server_call(server, "POST", f"projects/{pid}/blocks", {"source": source})
    run = server_call(server, "POST", f"projects/{pid}/blocks/{block['id']}/execute?wait=true")
    assert run["status"] == "succeeded", run
    return run


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def read_run_row(db_url: str, run_id: int, block_id: int) -> tuple[Any, int | None]:
    """The run's status, message and finish time, and its block's last run, from the database."""
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, message, finished_at FROM runs WHERE id = :id"),
                {"id": run_id},
            ).one()
            last = conn.execute(
                text("SELECT last_run_id FROM blocks WHERE id = :id"), {"id": block_id}
            ).scalar_one()
    finally:
        engine.dispose()
    return row, last


def start_sleeper(server: ServerProcess, pid: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A block sleeping 60 s, running; returns (block, run)."""
    block = server_call(
        server, "POST", f"projects/{pid}/blocks", {"source": "import time; time.sleep(60)"}
    )
    run = server_call(server, "POST", f"projects/{pid}/blocks/{block['id']}/execute")
    assert run["status"] in {"queued", "running"}
    server_wait_run(server, pid, run["id"], {"running"})
    return block, run


def test_server_crash_and_stop_during_runs(tmp_path, db_url):
    """A killed server leaves a running run that the next start marks interrupted; a server
    stopped cleanly in the middle of a run marks it itself and shuts its kernel down."""
    server = ServerProcess(tmp_path, db_url).start()
    kpids: list[int] = []
    try:
        pid = server_call(server, "POST", "projects", {"name": "crash"})["id"]
        kpids.append(int(result_text(server_run(server, pid, "import os; os.getpid()"))))
        block, run = start_sleeper(server, pid)
        assert server.kill() == -signal.SIGKILL

        # The orphaned kernel notices its parent is gone and exits (ipykernel's parent poller).
        assert wait_gone(kpids[0]), f"kernel {kpids[0]} outlived the killed server"

        server.start()
        after = server_call(server, "GET", f"projects/{pid}/runs/{run['id']}")
        assert after["status"] == "interrupted", after
        assert after["message"] == "the server stopped before this run finished"
        assert after["finished_at"] is not None
        crashed_block = server_call(server, "GET", f"projects/{pid}/blocks/{block['id']}")
        assert crashed_block["last_run_id"] == run["id"]  # recovery points the block at it
        k = server_call(server, "GET", f"projects/{pid}/kernel")
        assert k["state"] == "not_started", k
        assert k["kernel_id"] is None
        assert k["generation"] == 1
        assert k["reset_reason"] == "server restarted"

        fresh = server_run(server, pid, "import os; print(os.getpid())")
        kpids.append(int(stdout(fresh)))
        assert fresh["kernel_generation"] == 2
        runs = server_call(server, "GET", f"projects/{pid}/runs")["items"]
        assert [r["status"] for r in runs] == ["succeeded", "interrupted", "succeeded"]

        block, run = start_sleeper(server, pid)
        started = time.monotonic()
        assert server.stop() == 0, server.log()
        assert time.monotonic() - started < 15, "the running block held the server up"
        assert wait_gone(kpids[1]), f"kernel {kpids[1]} still running after the server stopped"
    finally:
        for kpid in kpids:
            if not process_gone(kpid):
                os.kill(kpid, signal.SIGKILL)
        server.stop()
    # The stopping server recorded the run itself.
    row, last = read_run_row(db_url, run["id"], block["id"])
    assert row.status == "interrupted", row
    assert row.message == "the server stopped before this run finished"
    assert row.finished_at is not None
    assert last == run["id"]
    assert tracebacks(server.log()) == [], server.log()


def test_clean_stop_shuts_kernels_down(tmp_path, db_url):
    server = ServerProcess(tmp_path, db_url).start()
    kpid = None
    try:
        pid = server_call(server, "POST", "projects", {"name": "stop"})["id"]
        kpid = int(stdout(server_run(server, pid, "import os; print(os.getpid())")))
        assert not process_gone(kpid)
    finally:
        code = server.stop()
    assert code == 0, server.log()
    assert kpid is not None
    assert wait_gone(kpid), f"kernel {kpid} still running after the server stopped"
    log = server.log()
    assert "Kernel shutdown" in log
    assert tracebacks(log) == [], log


async def test_a_failure_cancels_the_block_runs_queued_behind_it(api):
    """As Jupyter's stop_on_error: cells queued behind a cell that raised (or was
    interrupted) do not run; a run sent after the failure runs as usual."""
    pid = await make_project(api)
    fails = await add_block(api, pid, "import time\ntime.sleep(1)\nratio = 1 / 0")
    needs = await add_block(api, pid, "print(ratio * 2)")
    other = await add_block(api, pid, "unrelated = 'hello'")
    first = await execute(api, pid, fails, wait=False)
    queued = [await execute(api, pid, b, wait=False) for b in (needs, other)]
    failed = await wait_run(api, pid, first["id"])
    assert failed["status"] == "failed", failed
    for run in queued:
        done = await wait_run(api, pid, run["id"])
        assert done["status"] == "cancelled", done
        assert done["started_at"] is None
        assert done["message"] == f"cancelled: block {fails} before it failed (run {first['id']})"
    after = await execute(api, pid, other)
    assert after["status"] == "succeeded", after

    # An interrupt (JupyterLab's stop button) raises KeyboardInterrupt: the same
    slow = await add_block(api, pid, "import time\ntime.sleep(30)")
    running = await execute(api, pid, slow, wait=False)
    behind = await execute(api, pid, other, wait=False)
    await wait_run(api, pid, running["id"], {"running"})
    assert (await api("POST", f"projects/{pid}/kernel/interrupt")).status == 200
    stopped = await wait_run(api, pid, running["id"])
    assert stopped["error"]["ename"] == "KeyboardInterrupt", stopped
    assert (await wait_run(api, pid, behind["id"]))["status"] == "cancelled"
