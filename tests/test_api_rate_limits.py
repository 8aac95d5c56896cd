"""Per-user API rate limits (AINotebookApp.rate_limits): real requests to a real server
with tiny limits. Waiting for a bucket to refill is waiting for the server's clock, so
the refill test sleeps for the Retry-After the server gave (the outcome, not a timing,
is asserted)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from conftest import make_project
from identity import auth
from tornado.httpclient import HTTPClientError

from ai_notebook_ext.ratelimit import RateLimiter, parse_limits

READS = 3


@pytest.fixture
def extension_config() -> dict[str, Any]:
    return {
        "rate_limits": {
            "read": {"rate": 0.25, "burst": READS},
            "write": {"rate": 0, "burst": 1},  # off: setting up projects is not limited
            "execute": {"rate": 0.01, "burst": 1},
            "upload": {"rate": 0.01, "burst": 1},
        },
        "default_timeout": 60,
    }


def assert_limited(r: Any, route_class: str) -> int:
    assert r.status == 429, r.body
    assert r.error["code"] == "rate_limited"
    assert r.error["details"]["route_class"] == route_class
    retry = r.headers["Retry-After"]
    assert retry.isdigit()
    assert int(retry) >= 1
    exact = r.error["details"]["retry_after"]  # rounded up to whole seconds in the header
    assert math.ceil(exact - 0.001) <= int(retry) <= math.ceil(exact + 0.001)
    assert r.headers["Content-Type"].startswith("application/json")
    return int(retry)


async def test_the_reads_past_the_burst_get_429_then_pass_after_retry_after(api: Any) -> None:
    pid = await make_project(api)
    for _ in range(READS):
        assert (await api("GET", f"projects/{pid}")).status == 200
    r = await api("GET", f"projects/{pid}")
    retry = assert_limited(r, "read")
    assert r.headers["X-Request-Id"]
    # another user has a bucket of their own
    assert (await api("GET", "projects", user="bob")).status == 200
    # writes are another class (off here)
    assert (await api("PATCH", f"projects/{pid}", json_body={"name": "renamed"})).status == 200
    await asyncio.sleep(retry)
    assert (await api("GET", f"projects/{pid}")).status == 200


async def test_executes_have_their_own_bucket(api: Any) -> None:
    pid = await make_project(api)
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "x = 1"})
    bid = r.body["id"]
    path = f"projects/{pid}/blocks/{bid}/execute"
    assert (await api("POST", path, params={"wait": "true"})).status == 200
    r = await api("POST", path)
    assert_limited(r, "execute")
    # a pipeline start is an execute too
    r = await api("POST", f"projects/{pid}/runs", json_body={"target": "all"})
    assert_limited(r, "execute")
    # reads are untouched by the executes, and nothing was run by the refused ones
    r = await api("GET", f"projects/{pid}/runs")
    assert r.status == 200
    assert r.body["total"] == 1


async def test_uploads_have_their_own_bucket(api: Any) -> None:
    pid = await make_project(api)
    path = f"projects/{pid}/datasets/upload"
    params = {"name": "t", "filename": "t.csv"}
    assert (await api("POST", path, raw=b"a\n1\n", params=params)).status == 201
    r = await api("POST", path, raw=b"a\n2\n", params=params)
    assert_limited(r, "upload")
    assert r.headers["Connection"] == "close"  # refused before the body was read
    r = await api("GET", f"projects/{pid}/datasets")
    assert [d["latest"]["number"] for d in r.body["items"]] == [1]


async def test_the_event_socket_connect_is_limited(api: Any, jp_ws_fetch: Any) -> None:
    pid = await make_project(api)
    for _ in range(READS):
        await api("GET", f"projects/{pid}")
    with pytest.raises(HTTPClientError) as err:
        await jp_ws_fetch(
            "ai-notebook", "api", "projects", str(pid), "events", headers=auth("alice")
        )
    assert err.value.code == 429
    assert err.value.response.headers["Retry-After"].isdigit()


async def test_the_openapi_document_lists_429_everywhere(api: Any) -> None:
    r = await api("GET", "openapi.json", user="carol")
    assert r.status == 200
    doc = r.body
    assert doc["components"]["responses"]["RateLimited"]["headers"]["Retry-After"]
    for item in doc["paths"].values():
        for op in item.values():
            assert op["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}


@pytest.mark.parametrize(
    "bad",
    [
        {"reads": {"rate": 1, "burst": 1}},
        {"read": {"rate": -1, "burst": 1}},
        {"read": {"rate": 1, "burst": 0}},
        {"read": {"rate": "fast"}},
        {"read": {"rate": 1, "every": 2}},
        {"read": 5},
    ],
)
def test_bad_rate_limit_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rate_limits"):
        parse_limits(bad)


def test_buckets_stay_bounded_and_idle_ones_are_forgotten() -> None:
    now = [0.0]
    limiter = RateLimiter(
        parse_limits({"read": {"rate": 1, "burst": 2}}), max_buckets=100, clock=lambda: now[0]
    )
    for i in range(1000):
        limiter.take(f"user{i}", "read")
        limiter.take(f"user{i}", "read")
    assert len(limiter) == 100
    assert limiter.take("user999", "read") > 0  # the recent ones are kept, still empty
    now[0] = 10.0  # everyone's bucket is full again: forgetting them changes nothing
    assert limiter.take("late", "read") == 0.0
    assert len(limiter) == 1
