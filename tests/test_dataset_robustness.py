"""Robustness of the data workers: a quality rule's time limit, one project's slow job
not holding up another project's upload, and workers that exit when the server is
killed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_project
from server_process import ServerProcess
from test_api_datasets import as_bytes, upload

TIME_LIMIT = 4  # seconds a rule may run in these tests
# A subquery over a cross join of 200000 x 200000 numbers: 4e10 pairs, far more than
# the time limit for DuckDB, unless it is interrupted.
SLOW = {
    "kind": "sql",
    "params": {
        "predicate": "id >= 0 AND (SELECT count(*) FROM range(200000) a, range(200000) b "
        "WHERE a.range + b.range = $never) = 0",
        "params": {"never": -1},
    },
}
ROWS = pd.DataFrame({"id": range(3000), "name": [f"n{i}" for i in range(3000)]})


@pytest.fixture
def extension_config():
    return {"dataset_rule_time_limit": TIME_LIMIT}


def small(i: int) -> bytes:
    return as_bytes("csv", pd.DataFrame({"id": [i, i + 1], "v": [1.5, None]}))


async def test_a_slow_rule_is_stopped_and_fails_with_a_clear_message(api):
    pid = await make_project(api)
    r = await upload(api, pid, "rows", as_bytes("csv", ROWS), filename="rows.csv")
    assert r.status == 201, r.body
    did = r.body["dataset"]["id"]
    for rule in (SLOW, {"kind": "not_null", "column": "name"}):
        r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
        assert r.status == 201, r.body
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/quality")
    assert r.status == 200, r.body
    slow, not_null = r.body["results"]
    assert slow["passed"] is False
    assert slow["failing_rows"] is None
    assert slow["message"].startswith(f"stopped after {TIME_LIMIT} s"), slow
    assert not_null["passed"] is True  # the next rule still ran, on the same connection
    assert r.body["passed"] is False


async def test_a_slow_job_in_one_project_does_not_hold_up_uploads_in_another(api):
    slow_pid = await make_project(api, "slow")
    other_pid = await make_project(api, "other")
    r = await upload(api, slow_pid, "rows", as_bytes("csv", ROWS), filename="rows.csv")
    assert r.status == 201, r.body
    did = r.body["dataset"]["id"]
    r = await api("POST", f"projects/{slow_pid}/datasets/{did}/rules", json_body=SLOW)
    assert r.status == 201, r.body
    r = await upload(api, other_pid, "small", small(0), filename="s.csv")  # its worker
    assert r.status == 201, r.body

    started = time.monotonic()
    r = await upload(api, other_pid, "small", small(1), filename="s.csv")
    assert r.status == 201, r.body
    alone = time.monotonic() - started

    check = asyncio.ensure_future(
        api("POST", f"projects/{slow_pid}/datasets/{did}/versions/1/quality")
    )
    await asyncio.sleep(1)  # the slow rule is running in the slow project's worker
    assert not check.done()
    started = time.monotonic()
    r = await upload(api, other_pid, "small", small(2), filename="s.csv")
    assert r.status == 201, r.body
    meanwhile = time.monotonic() - started
    assert not check.done(), "the slow rule ended before the other upload: nothing measured"
    assert meanwhile - alone < 1.0, (alone, meanwhile)  # the criterion
    result = await check
    assert result.body["results"][0]["message"].startswith(f"stopped after {TIME_LIMIT} s")


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_data_workers_exit_when_the_server_is_killed(tmp_path, db_url):
    if db_url.startswith("postgresql"):
        pytest.skip("the database does not matter here")
    server = ServerProcess(tmp_path, db_url).start()
    try:
        status, project = server.request("POST", "ai-notebook/api/projects", {"name": "p"})
        assert status == 201, project
        body = as_bytes("csv", ROWS)
        req = urllib.request.Request(
            server.url + f"ai-notebook/api/projects/{project['id']}/datasets/upload?name=r"
            "&filename=r.csv",
            data=body,
            method="POST",
        )
        req.add_header("Authorization", f"token {server.token}")
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 201
        assert server.proc is not None
        workers = {
            pid
            for pid in _children(server.proc.pid)
            if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
        }
        assert workers, "the upload ran in no worker process"
    finally:
        server.kill()  # SIGKILL: no cleanup runs in the server
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:  # do not leave them behind if the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, f"data workers {left} outlived their server"
