"""The router with real providers and clients against scripted local servers: retries,
Retry-After, fallback, limits, cache and analytics records."""

from __future__ import annotations

import asyncio
import time

import pytest
from ai_server import ScriptedServer, Step

from ai_notebook_ext.ai.errors import ProviderError
from ai_notebook_ext.ai.providers.ollama import OllamaProvider
from ai_notebook_ext.ai.providers.openai import OpenAIProvider
from ai_notebook_ext.ai.router import RateLimited, ResponseCache, Route, Router, TokenBucket
from ai_notebook_ext.ai.types import TextDelta, message

MESSAGES = [message("user", "hi")]


def openai_answer(text):
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def ollama_answer(text):
    return {
        "model": "llama3",
        "created_at": "2026-11-27T00:00:00Z",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "prompt_eval_count": 4,
        "eval_count": 1,
    }


@pytest.fixture
def servers():
    with ScriptedServer() as a, ScriptedServer() as b:
        yield a, b


@pytest.fixture
def setup(servers):
    """A router over OpenAI (server a) and Ollama (server b); sleeps and records captured."""
    a, b = servers
    slept: list[float] = []
    records = []

    async def sleep(seconds):
        slept.append(seconds)

    async def record(row):
        records.append(row)

    def make(**kwargs):
        return Router(
            {
                "openai": OpenAIProvider(api_key="k", base_url=a.url + "/v1"),
                "ollama": OllamaProvider(host=b.url),
            },
            aliases={"fast": "ollama:llama3"},
            recorder=record,
            sleep=sleep,
            **kwargs,
        )

    return make, slept, records


def run(router, model="openai:gpt-test", user="alice", **kwargs):
    async def go():
        return [c async for c in router.chat(user, model, MESSAGES, **kwargs)]

    return asyncio.run(go())


def test_model_ids_and_aliases(setup):
    make, _, _ = setup
    router = make(default_model="openai:gpt-test")
    assert router.resolve("fast")[1:] == ("llama3", "ollama:llama3")
    assert router.resolve(None)[2] == "openai:gpt-test"
    with pytest.raises(ProviderError, match="unknown provider 'claude'"):
        router.resolve("claude:x")
    with pytest.raises(ProviderError, match="not provider:model"):
        router.resolve("gpt")
    with pytest.raises(ProviderError, match="no default model"):
        make().resolve(None)


def test_fallback_to_a_live_provider_within_one_request(servers, setup):
    a, b = servers
    make, slept, records = setup
    a.script(*[Step(500, {"error": {"message": "down"}})] * 3)
    b.script(Step(body=ollama_answer("from ollama")))
    chunks = run(make(fallback=["fast"], retries=2))
    assert chunks[0] == TextDelta("from ollama")
    route = chunks[-1]
    assert isinstance(route, Route)
    assert (route.provider, route.model) == ("ollama", "llama3")
    assert route.skipped[0][0] == "openai:gpt-test"
    assert "unavailable" in route.skipped[0][1]
    assert len(a.requests) == 3  # the first try and two retries
    assert len(slept) == 2
    assert 0.25 <= slept[0] <= 0.5  # exponential backoff with jitter
    assert 0.5 <= slept[1] <= 1.0
    (row,) = records
    assert (row.provider, row.status, row.fell_back_from) == ("ollama", "ok", "openai")
    assert (row.tokens_in, row.tokens_out) == (4, 1)
    assert row.first_token_ms is not None


def test_retry_after_is_honoured(servers, setup):
    a, _ = servers
    make, slept, records = setup
    a.script(Step(429, {"error": {"message": "slow"}}, headers={"Retry-After": "2"}))
    a.script(Step(body=openai_answer("ok")))
    chunks = run(make())
    assert chunks[0] == TextDelta("ok")
    assert slept == [2.0]
    assert records[0].fell_back_from is None


def test_a_long_retry_after_moves_on_to_the_fallback(servers, setup):
    a, b = servers
    make, slept, _ = setup
    a.script(Step(429, {"error": {"message": "slow"}}, headers={"Retry-After": "3600"}))
    b.script(Step(body=ollama_answer("elsewhere")))
    chunks = run(make(fallback=["fast"]))
    assert chunks[0] == TextDelta("elsewhere")
    assert slept == []


def test_a_refused_key_is_not_retried_nor_routed_elsewhere(servers, setup):
    a, b = servers
    make, slept, records = setup
    a.script(Step(401, {"error": {"message": "bad key"}}))
    with pytest.raises(ProviderError) as caught:
        run(make(fallback=["fast"]))
    assert caught.value.kind == "auth"
    assert len(a.requests) == 1
    assert b.requests == []
    assert slept == []
    assert (records[0].status, records[0].error_kind) == ("error", "auth")


def test_every_provider_down_says_why_each_failed(servers, setup):
    a, b = servers
    make, _, records = setup
    a.script(Step(500, {"error": {"message": "down"}}))
    b.script(Step(503, {"error": "also down"}))
    with pytest.raises(ProviderError) as caught:
        run(make(fallback=["fast"], retries=0))
    assert "every provider failed" in caught.value.message
    assert "openai:gpt-test" in caught.value.message
    assert "ollama:llama3" in caught.value.message
    assert records[-1].status == "error"


def test_streams_fall_back_before_the_first_chunk(servers, setup):
    a, b = servers
    make, _, _ = setup
    a.script(Step(500, {"error": {"message": "down"}}))
    b.script(
        Step(
            ndjson=[
                {**ollama_answer("Hel"), "done": False},
                {**ollama_answer("lo"), "done": True},
            ]
        )
    )
    chunks = run(make(fallback=["fast"], retries=0), stream=True)
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["Hel", "lo"]
    assert chunks[-1].provider == "ollama"


def test_per_user_rate_limit(servers, setup):
    a, _ = servers
    make, _, _ = setup
    a.script(Step(body=openai_answer("1")), Step(body=openai_answer("2")))
    clock = [0.0]
    router = make(limiter=TokenBucket(per_minute=60, capacity=2, clock=lambda: clock[0]))
    run(router)
    run(router)
    with pytest.raises(RateLimited) as caught:
        run(router)
    assert 0 < caught.value.retry_after <= 1.0
    a.script(Step(body=openai_answer("bob's")))
    assert run(router, user="bob")[0] == TextDelta("bob's")  # buckets are per user
    clock[0] += 1.0  # a second later a call is allowed again
    a.script(Step(body=openai_answer("3")))
    assert run(router)[0] == TextDelta("3")


def test_deterministic_answers_come_from_the_cache(servers, setup):
    a, _ = servers
    make, _, records = setup
    a.script(Step(body=openai_answer("cached answer")))
    router = make(cache=ResponseCache())
    first = run(router, cache=True, temperature=0)
    second = run(router, cache=True, temperature=0)
    assert first[0] == second[0] == TextDelta("cached answer")
    assert second[-1].cached is True
    assert len(a.requests) == 1
    assert [r.cached for r in records] == [False, True]
    # Not deterministic, or not asked for: no cache.
    a.script(Step(body=openai_answer("fresh")), Step(body=openai_answer("fresh again")))
    assert run(router, cache=True, temperature=0.7)[0] == TextDelta("fresh")
    assert run(router, temperature=0)[0] == TextDelta("fresh again")


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAULTS = {
    "500": (Step(500, {"error": {"message": "boom"}}), "unavailable"),
    "429": (
        Step(429, {"error": {"message": "slow"}}, headers={"Retry-After": "2"}),
        "rate_limited",
    ),
    "timeout": (Step(body=openai_answer("late"), delay=1.0), "timeout"),
    "malformed": (Step(raw=b"{not json"), "unavailable"),
    "refused": (None, "unavailable"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_normalized_retried_then_falls_back_and_is_recorded(servers, fault):
    """One table for the injected faults: the primary fails twice (first try and one
    retry), the router falls back to Ollama in the same call, and the single analytics row
    says who answered and whom it fell back from."""
    a, b = servers
    step, kind = FAULTS[fault]
    slept: list[float] = []
    records = []

    async def sleep(seconds):
        slept.append(seconds)

    async def record(row):
        records.append(row)

    url = f"http://127.0.0.1:{closed_port()}/v1" if step is None else a.url + "/v1"
    if step is not None:
        a.script(step, step)
    b.script(Step(body=ollama_answer("rescued")))
    router = Router(
        {"openai": OpenAIProvider(api_key="k", base_url=url), "ollama": OllamaProvider(host=b.url)},
        aliases={"fast": "ollama:llama3"},
        fallback=["fast"],
        retries=1,
        request_timeout=0.3,
        recorder=record,
        sleep=sleep,
    )
    chunks = run(router)
    assert chunks[0] == TextDelta("rescued")
    route = chunks[-1]
    assert route.provider == "ollama"
    assert route.skipped[0][0] == "openai:gpt-test"
    assert route.skipped[0][1].startswith(f"{kind}:")
    if step is not None:
        # tried, then retried once; a loaded machine may hand the retry to the server's
        # thread after the client gave up on it (the timeout case), so wait a moment
        deadline = time.monotonic() + 5
        while len(a.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(a.requests) == 2
    assert len(slept) == 1
    if fault == "429":
        assert slept == [2.0]  # Retry-After honoured
    (row,) = records
    assert (row.provider, row.model, row.status) == ("ollama", "llama3", "ok")
    assert row.fell_back_from == "openai"
    assert (row.tokens_in, row.tokens_out) == (4, 1)


def test_a_slow_first_import_of_the_sdk_does_not_fail_the_health_check(tmp_path, monkeypatch):
    """The providers list checks each provider within a timeout. The client library's
    first import (seconds on a busy machine) happens before the clock starts, in a
    thread, so a reachable provider is not reported unreachable (with no models) for it."""
    from ai_notebook_ext.ai import service as ai_service
    from ai_notebook_ext.ai.providers.base import Provider

    monkeypatch.setattr(ai_service, "HEALTH_TIMEOUT", 0.5)
    (tmp_path / "slow_sdk_for_ainb_test.py").write_text("import time\ntime.sleep(2.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class SlowSDK(Provider):
        name = "slow"
        sdk_modules = ("slow_sdk_for_ainb_test",)

        def configured(self):
            return ""

        def chat(self, *args, **kwargs):
            raise NotImplementedError

        async def list_models(self, request_timeout=10.0):
            import slow_sdk_for_ainb_test  # noqa: F401  (as the real providers import theirs)

            await asyncio.sleep(0.05)  # the request itself
            return ["m1"]

    service = ai_service.AIService(None, Router({"slow": SlowSDK()}), None)
    [out] = asyncio.run(service.providers())
    assert out.reachable is True, out
    assert out.models == ["m1"]
