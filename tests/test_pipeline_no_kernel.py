"""A pipeline whose kernel cannot start: every block run it opened ends, none stays running."""

from __future__ import annotations

import pytest
from conftest import make_project


@pytest.fixture
def extension_config():
    # A kernelspec that does not exist: starting the project's kernel really fails.
    return {"kernel_name": "no-such-kernel-ainb"}


async def test_a_parallel_pipeline_whose_kernel_cannot_start_closes_its_block_runs(api):
    pid = await make_project(api)
    specs = [{"source": s} for s in ("a = 1", "b = 2", "c = a + b")]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs})
    assert r.status == 201, r.body
    a, b, c = [x["id"] for x in r.body["items"]]
    r = await api(
        "POST",
        f"projects/{pid}/runs",
        json_body={"target": "all", "parallel": 2},
        params={"wait": "true"},
    )
    assert r.status == 200, r.body
    run = r.body
    assert run["status"] == "failed", run
    outcome = {x["block_id"]: x["status"] for x in run["results"]}
    assert outcome == {a: "failed", b: "failed", c: "skipped"}, run["results"]
    reasons = {x["block_id"]: x["reason"] for x in run["results"]}
    assert "no-such-kernel-ainb" in reasons[a], reasons
    r = await api("GET", f"projects/{pid}/runs", params={"kind": "block", "limit": 100})
    assert r.status == 200, r.body
    block_runs = r.body["items"]
    assert {x["block_id"] for x in block_runs} == {a, b}
    for x in block_runs:
        assert x["status"] == "failed", x
        assert x["finished_at"] is not None
        assert "no-such-kernel-ainb" in x["message"], x
        assert x["error"]["reason"] == "kernel", x


async def test_a_block_run_whose_kernel_cannot_start_fails_with_the_reason(api):
    pid = await make_project(api)
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "x = 1"})
    bid = r.body["id"]
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    assert r.body["status"] == "failed"
    assert r.body["error"]["ename"] == "KernelStartError"
