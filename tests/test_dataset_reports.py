"""Full HTML profile reports: a background job in a worker process, progress through the
API and events, sampling said in the report, sandboxed HTML, reuse, roles."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pandas as pd
import pytest
from conftest import make_project
from test_api_datasets import as_bytes, upload


@pytest.fixture
def extension_config():
    return {
        "dataset_report_max_rows": 100,
        "dataset_report_minimal": True,
        "dataset_max_bytes": 1 << 20,
    }


async def wait_done(api, pid, did, rid, user="alice"):
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        r = await api("GET", f"projects/{pid}/datasets/{did}/reports/{rid}", user=user)
        assert r.status == 200, r.body
        if r.body["status"] in ("done", "failed"):
            return r.body
        await asyncio.sleep(0.5)
    raise AssertionError("the report did not finish")


async def test_a_sampled_report_in_the_background(api, jp_ws_fetch):
    ws = await jp_ws_fetch(
        "api", "events", "subscribe", headers={"Authorization": "token token-alice"}
    )
    pid = await make_project(api, bob="viewer")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=300), "kind": rng.choice(["a", "b"], 300)})
    r = await upload(api, pid, "big", as_bytes("csv", frame), filename="b.csv")
    did = r.body["dataset"]["id"]
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/report", user="bob")
    assert r.status == 202, r.body
    assert r.body["status"] == "queued"
    rid = r.body["id"]
    report = await wait_done(api, pid, did, rid, user="bob")
    assert report["status"] == "done", report
    assert report["sampled_rows"] == 100
    assert report["progress"] == 1.0
    assert "sampled 100 rows" in report["message"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/reports/{rid}/html", user="bob")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Security-Policy"] == "sandbox allow-scripts"
    assert "a random sample of 100 of 300 rows" in r.raw.decode()
    # Asking again returns the same report instead of making another.
    again = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/report")
    assert again.body["id"] == rid
    # Strangers learn nothing.
    r = await api("GET", f"projects/{pid}/datasets/{did}/reports/{rid}", user="dave")
    assert r.status == 404
    r = await api("GET", f"projects/{pid}/datasets/{did}/reports/{rid + 1}")
    assert r.status == 404

    statuses = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "done" not in statuses:
        event = json.loads(await asyncio.wait_for(ws.read_message(), timeout=10))
        if event.get("schema_id", "").endswith("dataset-report/v1"):
            statuses.append(event["status"])
    ws.close()
    assert statuses[0] == "queued"
    assert "running" in statuses
    assert statuses[-1] == "done"
