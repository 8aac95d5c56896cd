"""Parallel pipelines: independent blocks in forked workers, same state as sequential."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from conftest import make_project


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


# Branches, a mutation, a name written by two independent blocks, a function (runs in the
# kernel), an import, a generator (cannot travel back: re-run in the kernel), outputs.
BLOCKS = [
    "base = list(range(10))",
    "left = sum(base)",
    "right = max(base)",
    "data = {'k': 1}",
    "data['extra'] = left",
    "x = 1",
    "x = 2",
    "def f():\n    return 3",
    "y = f() + right",
    "import math\nz = math.sqrt(16)",
    "print('sides', left, right)\nleft * 2",
    "gen = (i for i in range(3))",
    "total = left + right + x + len(data)",
]
STATE = (
    "import json\n"
    "print(json.dumps({k: globals()[k] for k in "
    "['base', 'left', 'right', 'data', 'x', 'y', 'z', 'total']}, sort_keys=True))\n"
    "print(list(gen), f())"
)


async def setup(api, sources):
    pid = await make_project(api)
    specs = [{"source": s} for s in sources]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs})
    assert r.status == 201, r.body
    return pid, [b["id"] for b in r.body["items"]]


async def pipeline(api, pid, wait=True, **body):
    r = await api(
        "POST", f"projects/{pid}/runs", json_body=body, params={"wait": "true"} if wait else None
    )
    assert r.status == (200 if wait else 202), r.body
    return r.body


async def kernel_state(api, pid):
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": STATE})
    bid = r.body["id"]
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", json.dumps(r.body)[:2000]
    return r.body["outputs"][0]["text"]


@pytest.mark.gateway
async def test_a_parallel_run_leaves_the_state_a_sequential_run_gives(api):
    seq_pid, _ = await setup(api, BLOCKS)
    sequential = await pipeline(api, seq_pid, target="all")
    assert sequential["status"] == "succeeded", sequential
    par_pid, ids = await setup(api, BLOCKS)
    parallel = await pipeline(api, par_pid, target="all", parallel=2)
    assert parallel["status"] == "succeeded", parallel
    assert await kernel_state(api, par_pid) == await kernel_state(api, seq_pid)

    where = {r["block_id"]: r["where"] for r in parallel["results"]}
    assert where[ids[1]] == where[ids[2]] == "forked worker"  # the two branches
    assert where[ids[7]] == "project kernel"  # defines a function
    assert where[ids[9]] == "project kernel"  # imports a module
    assert where[ids[11]].startswith("project kernel: could not ship back gen")
    assert {r["status"] for r in parallel["results"]} == {"succeeded"}

    # Outputs of a forked block are recorded like any run's.
    r = await api("GET", f"projects/{par_pid}/runs", params={"block_id": ids[10]})
    (printed,) = r.body["items"]
    assert printed["parent_id"] == parallel["id"]
    assert printed["outputs"][0]["text"] == "sides 45 9\n"
    assert printed["outputs"][1]["data"]["text/plain"] == "90"
    # The forked blocks' runs count as fresh results of the kernel.
    dag = (await api("GET", f"projects/{par_pid}/dag")).body
    states = {n["block_id"]: n["state"] for n in dag["nodes"]}
    assert all(states[b] == "fresh" for b in ids), states


async def test_a_failure_in_a_forked_block_skips_its_descendants(api):
    pid, (_a, b, c, d) = await setup(api, ["n = 3", "bad = n / 0", "after = bad + 1", "ok = n + 1"])
    run = await pipeline(api, pid, target="all", parallel=2)
    assert run["status"] == "failed"
    outcome = {r["block_id"]: (r["status"], r["where"]) for r in run["results"]}
    assert outcome[b] == ("failed", "forked worker")
    assert outcome[c][0] == "skipped"
    assert outcome[d] == ("succeeded", "forked worker")
    r = await api("GET", f"projects/{pid}/runs", params={"block_id": b})
    failed = r.body["items"][0]
    assert failed["error"]["ename"] == "ZeroDivisionError"
    assert failed["outputs"][-1]["output_type"] == "error"
    # Its traceback is IPython's, as in the kernel: the block's line, none of ours.
    forked = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(failed["error"]["traceback"]))
    assert "parallel.py" not in forked, forked
    assert f"<block {b}>" in forked, forked
    assert "bad = n / 0" in forked, forked
    r = await api("POST", f"projects/{pid}/blocks/{b}/execute", params={"wait": "true"})
    in_kernel = r.body["error"]["traceback"]
    assert len(failed["error"]["traceback"]) == len(in_kernel), (forked, in_kernel)
    assert failed["error"]["traceback"][0] == in_kernel[0]  # IPython's header line


@pytest.mark.gateway
async def test_timeouts_and_cancel_reach_forked_blocks(api):
    pid, (_a, b, c) = await setup(api, ["import time", "s1 = 1", "s2 = 2"])
    for bid, seconds in ((b, 30), (c, 30)):
        r = await api("GET", f"projects/{pid}/blocks/{bid}")
        source = f"time.sleep({seconds})\ns{bid} = {bid}"
        body = {"version": r.body["version"], "source": source}
        if bid == b:
            body["timeout_seconds"] = 1
        r = await api("PATCH", f"projects/{pid}/blocks/{bid}", json_body=body)
        assert r.status == 200, r.body
    run = await pipeline(api, pid, wait=False, target="all", parallel=2)
    deadline = time.monotonic() + 30
    while True:
        current = (await api("GET", f"projects/{pid}/runs/{run['id']}")).body
        results = {r["block_id"]: r for r in current["results"]}
        if results[b]["status"] == "failed":
            break
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.1)
    assert "timed out after 1 s" in results[b]["reason"]
    started = time.monotonic()
    r = await api("POST", f"projects/{pid}/runs/{run['id']}/cancel")
    assert r.status == 200, r.body
    while current["status"] == "running":
        current = (await api("GET", f"projects/{pid}/runs/{run['id']}")).body
        assert time.monotonic() - started < 10, current
        await asyncio.sleep(0.1)
    assert current["status"] == "cancelled"
    results = {r["block_id"]: r["status"] for r in current["results"]}
    assert results[c] == "cancelled"
    # The kernel is usable afterwards, with its state.
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "print(time.time() > 0)"})
    r = await api("POST", f"projects/{pid}/blocks/{r.body['id']}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", json.dumps(r.body)[:2000]
    assert json.dumps(r.body["outputs"]).count("True") == 1


async def test_blocks_that_only_read_a_frame_run_together(api):
    """df.head() and df.plot() read df without changing it: no edge between them, and a
    parallel pipeline runs both in forked workers next to each other."""
    pid, (_imp, make, head, plot, sort, first) = await setup(
        api,
        [
            "import pandas as pd",
            "df = pd.DataFrame({'a': [3, 1, 2]})",
            "df.head(2)",
            "df.plot()",
            "df.sort_values('a', inplace=True)",
            "first = int(df['a'].iloc[0])",
        ],
    )
    dag = (await api("GET", f"projects/{pid}/dag")).body
    edges = {(e["source"], e["target"]) for e in dag["edges"]}
    assert (head, plot) not in edges
    assert {(make, head), (make, plot), (make, sort), (sort, first)} <= edges
    run = await pipeline(api, pid, target="all", parallel=2)
    assert run["status"] == "succeeded", run
    where = {r["block_id"]: r["where"] for r in run["results"]}
    assert where[head] == where[plot] == "forked worker", where
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "print(first)"})
    bid = r.body["id"]
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["outputs"][0]["text"] == "1\n", r.body  # sorted after the reads


async def block_run(api, pid, bid):
    r = await api("GET", f"projects/{pid}/runs", params={"block_id": bid})
    return r.body["items"]


async def test_a_branch_goes_on_while_another_still_runs(api):
    """A chain's next block starts in a worker as soon as its parent ended well, not when
    every block started with it has ended."""
    pid, (_imp, slow, a1, a2, a3) = await setup(
        api,
        [
            "import time",
            "time.sleep(3)\nslow = 1",
            "time.sleep(0.2)\na1 = 1",
            "a2 = a1 + 1",
            "a3 = a2 + 1",
        ],
    )
    run = await pipeline(api, pid, target="all", parallel=2)
    assert run["status"] == "succeeded", run
    where = {r["block_id"]: r["where"] for r in run["results"]}
    assert where[slow] == where[a1] == where[a2] == where[a3] == "forked worker", where
    (slow_run,) = await block_run(api, pid, slow)
    (a1_run,) = await block_run(api, pid, a1)
    (a3_run,) = await block_run(api, pid, a3)
    assert a3_run["finished_at"] < slow_run["finished_at"]
    # Each run says when its block started: the chain's after its parent ended.
    assert a3_run["started_at"] >= a1_run["finished_at"]
    assert a3_run["source"] == "a3 = a2 + 1"
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "print(slow, a3)"})
    r = await api("POST", f"projects/{pid}/blocks/{r.body['id']}/execute", params={"wait": "true"})
    assert r.body["outputs"][0]["text"] == "1 3\n", r.body


@pytest.mark.parametrize("retries", [0, 1])
async def test_a_block_waiting_for_a_failed_one_never_ran(api, retries):
    """Its parent failed in a worker: it has no run; with a retry that succeeds (in the
    kernel) it runs after it, otherwise it is skipped."""
    pid, (_imp, parent, child, other) = await setup(
        api,
        [
            "import os\nkpid = os.getpid()",
            "assert os.getpid() == kpid, 'in a forked worker'\np = 1",
            "q = p + 1",
            "other = 5",
        ],
    )
    run = await pipeline(api, pid, target="all", parallel=2, retries=retries)
    results = {r["block_id"]: r for r in run["results"]}
    assert results[other]["where"] == "forked worker"
    parent_runs = await block_run(api, pid, parent)
    assert parent_runs[-1]["error"]["evalue"] == "in a forked worker"  # the oldest: forked
    if retries:
        assert run["status"] == "succeeded", run
        assert results[parent]["status"] == "succeeded"
        assert results[parent]["where"] == "project kernel"
        assert results[child]["status"] == "succeeded"
        assert len(await block_run(api, pid, child)) == 1
    else:
        assert run["status"] == "failed", run
        assert results[child]["status"] == "skipped"
        assert f"upstream block {parent} failed" in results[child]["reason"]
        assert await block_run(api, pid, child) == []


async def test_stop_on_error_starts_no_block_after_a_failure(api):
    """With stop_on_error, a block of the batch waiting for another does not start once a
    block failed; the blocks already running end."""
    pid, (_imp, fail, s1, s2) = await setup(
        api,
        [
            "import time",
            "time.sleep(0.3)\nraise ValueError('no')",
            "time.sleep(1.5)\ns1 = 1",
            "s2 = s1 + 1",
        ],
    )
    run = await pipeline(api, pid, target="all", parallel=2, stop_on_error=True)
    assert run["status"] == "failed", run
    results = {r["block_id"]: r for r in run["results"]}
    assert results[fail]["status"] == "failed"
    assert results[s1]["status"] == "succeeded"
    assert results[s2]["status"] == "skipped"
    assert "stop_on_error" in results[s2]["reason"]
    assert await block_run(api, pid, s2) == []
