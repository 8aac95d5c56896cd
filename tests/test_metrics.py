"""Prometheus metrics on Jupyter Server's /metrics: real requests, the scrape parsed with
prometheus_client's own parser, counters compared before and after.

The metrics live in the process-wide registry (every server of the test session shares
them), so each test looks at how much a metric grew, not at its value.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from agent_script import Model
from ai_server import Step
from conftest import make_project
from identity import auth
from prometheus_client.parser import text_string_to_metric_families
from ws_events import connect, until

import ai_notebook_ext.metrics  # noqa: F401  (the metrics in the default registry)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def extension_config(server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    return {
        "default_timeout": 60,
        "openai_api_key": "sk-metrics-test",
        "openai_base_url": server.url + "/v1",
        "ai_retries": 0,
        "ai_default_model": "openai:test-model",
    }


async def scrape(jp_fetch: Any) -> Samples:
    r = await jp_fetch("metrics", headers=auth("alice"))
    assert r.code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(r.body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def add_block(api: Any, pid: int, source: str) -> int:
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source})
    assert r.status == 201, r.body
    return int(r.body["id"])


async def execute(api: Any, pid: int, bid: int, wait: bool = True) -> Any:
    params = {"wait": "true"} if wait else None
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params=params)
    assert r.status == (200 if wait else 202), r.body
    return r.body


async def test_metrics_need_a_login(api: Any, jp_fetch: Any) -> None:
    r = await jp_fetch("metrics", raise_error=False)
    assert r.code == 403
    assert b"ai_notebook_" not in (r.body or b"")


async def test_runs_by_status_duration_kernels_and_bus_events(api: Any, jp_fetch: Any) -> None:
    pid = await make_project(api)
    ok = await add_block(api, pid, "x = 1")
    bad = await add_block(api, pid, "1 / 0")
    before = await scrape(jp_fetch)
    assert (await execute(api, pid, ok))["status"] == "succeeded"
    assert (await execute(api, pid, bad))["status"] == "failed"
    after = await scrape(jp_fetch)
    assert grew(before, after, "ai_notebook_runs_total", status="succeeded") == 1
    assert grew(before, after, "ai_notebook_runs_total", status="failed") == 1
    assert grew(before, after, "ai_notebook_run_duration_seconds_count") == 2
    assert value(after, "ai_notebook_kernels_live") >= 1
    # queued + running + succeeded, queued + running + failed on Jupyter's event bus
    assert grew(before, after, "ai_notebook_events_sent_total", type="run-status", to="bus") >= 4


async def test_queue_depth_counts_waiting_runs(api: Any, jp_fetch: Any) -> None:
    pid = await make_project(api)
    slow = await add_block(api, pid, "import time\ntime.sleep(60)")
    quick = await add_block(api, pid, "y = 2")
    first = await execute(api, pid, slow, wait=False)
    for _ in range(200):  # the slow block is running once its status says so
        r = await api("GET", f"projects/{pid}/runs/{first['id']}")
        if r.body["status"] == "running":
            break
        await asyncio.sleep(0.05)
    waiting = await execute(api, pid, quick, wait=False)
    assert waiting["status"] == "queued"
    assert value(await scrape(jp_fetch), "ai_notebook_queue_depth") >= 1
    for run in (waiting, first):
        r = await api("POST", f"projects/{pid}/runs/{run['id']}/cancel")
        assert r.status in (200, 202), r.body


async def test_pipelines_and_their_blocks(api: Any, jp_fetch: Any) -> None:
    pid = await make_project(api)
    r = await api(
        "POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": [{"source": "a = 1"}] * 2}
    )
    assert r.status == 201, r.body
    before = await scrape(jp_fetch)
    r = await api("POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": 1})
    assert r.status == 200, r.body
    after = await scrape(jp_fetch)
    assert grew(before, after, "ai_notebook_pipelines_total", status="succeeded") == 1
    assert grew(before, after, "ai_notebook_pipeline_blocks_total", status="succeeded") == 2


async def test_uploads_and_profile_jobs(api: Any, jp_fetch: Any) -> None:
    pid = await make_project(api)
    data = b"a,b\n1,x\n2,y\n3,z\n"
    before = await scrape(jp_fetch)
    r = await api(
        "POST",
        f"projects/{pid}/datasets/upload",
        raw=data,
        params={"name": "t", "filename": "t.csv"},
    )
    assert r.status == 201, r.body
    refused = await api(
        "POST", f"projects/{pid}/datasets/upload", raw=b"", params={"name": "empty"}
    )
    assert refused.status == 400
    after = await scrape(jp_fetch)
    assert grew(before, after, "ai_notebook_uploads_total", status="ok") == 1
    assert grew(before, after, "ai_notebook_uploads_total", status="refused") == 1
    assert grew(before, after, "ai_notebook_upload_bytes_total") == len(data)
    assert grew(before, after, "ai_notebook_upload_duration_seconds_count") == 2
    assert grew(before, after, "ai_notebook_profile_jobs_total", status="done") == 1


def chunk(text: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


USAGE = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}


async def test_ai_calls_latency_and_tokens(api: Any, jp_fetch: Any, server: Any) -> None:
    server.script(Step(sse=[chunk("hi"), USAGE, "[DONE]"]), Step(401, {"error": "bad key"}))
    before = await scrape(jp_fetch)
    body = {"model": "openai:m", "messages": [{"role": "user", "content": "hello"}]}
    assert (await api("POST", "ai/complete", json_body=body)).status == 200
    assert (await api("POST", "ai/complete", json_body=body)).status >= 400
    after = await scrape(jp_fetch)
    assert grew(before, after, "ai_notebook_ai_calls_total", provider="openai", status="ok") == 1
    assert grew(before, after, "ai_notebook_ai_calls_total", provider="openai", status="auth") == 1
    count = "ai_notebook_ai_call_duration_seconds_count"
    assert grew(before, after, count, provider="openai") == 2
    tokens = "ai_notebook_ai_tokens_total"
    assert grew(before, after, tokens, provider="openai", kind="prompt") == 11
    assert grew(before, after, tokens, provider="openai", kind="completion") == 3


async def test_events_to_project_sockets(api: Any, jp_fetch: Any, jp_ws_fetch: Any) -> None:
    pid = await make_project(api)
    ws, _ = await connect(jp_ws_fetch, pid, "alice")
    try:
        before = await scrape(jp_fetch)
        bid = await add_block(api, pid, "z = 3")
        await until(ws, "block-created")
        after = await scrape(jp_fetch)
    finally:
        ws.close()
    assert bid
    sent = "ai_notebook_events_sent_total"
    assert grew(before, after, sent, type="block-created", to="members") == 1


async def test_agent_steps_by_tool_and_kind(api: Any, jp_fetch: Any, server: Any) -> None:
    pid = await make_project(api)
    r = await api("POST", f"projects/{pid}/agent/conversations", json_body={"mode": "full"})
    assert r.status == 201, r.body
    model = Model("openai", True)
    server.script(
        model.calls(("list_blocks", {}), ("no_such_tool", {})), model.answer("nothing here")
    )
    before = await scrape(jp_fetch)
    r = await api(
        "POST",
        f"projects/{pid}/agent/conversations/{r.body['id']}/messages",
        json_body={"content": "what is in this project?"},
    )
    assert r.status == 200, r.raw
    after = await scrape(jp_fetch)
    steps = "ai_notebook_agent_steps_total"
    assert grew(before, after, steps, tool="model", kind="model") == 2
    assert grew(before, after, steps, tool="list_blocks", kind="read") == 1
    assert grew(before, after, steps, tool="unknown", kind="invalid") == 1


def test_the_dashboard_and_the_readme_name_only_real_metrics() -> None:
    families = [
        f for f in prometheus_client.REGISTRY.collect() if f.name.startswith("ai_notebook_")
    ]
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    series = {f.name + end for f in families for end in suffixes[f.type]}
    root = Path(__file__).resolve().parent.parent
    dashboard = json.loads((root / "docs/grafana/ai_notebook.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in re.findall(r"ai_notebook_\w+", e)}
    assert used
    assert used <= series
    readme = (root / "README.md").read_text()
    section = readme.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(ai_notebook_\w+)`", section))
    named = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert documented == named
