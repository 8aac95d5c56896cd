"""The AI REST API: providers, streamed completions with fallback, limits, analytics."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from ai_server import ScriptedServer, Step


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def upstreams():
    with ScriptedServer() as openai_server, ScriptedServer() as ollama_server:
        yield openai_server, ollama_server


@pytest.fixture
def extension_config(upstreams, monkeypatch):
    openai_server, ollama_server = upstreams
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    return {
        "openai_api_key": "sk-server",
        "openai_base_url": openai_server.url + "/v1",
        "ollama_host": ollama_server.url,
        "ai_aliases": {"local": "ollama:llama3"},
        "ai_fallback": ["local"],
        "ai_retries": 0,
        "ai_rate_per_minute": 600,
    }


def chunk(text):
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
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


def lines(response):
    return [json.loads(line) for line in response.raw.decode().splitlines() if line]


async def complete(api, **body):
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return await api("POST", "ai/complete", json_body=body)


async def test_providers_say_what_is_configured_and_reachable(api, upstreams):
    openai_server, ollama_server = upstreams
    models = {
        "object": "list",
        "data": [{"id": "gpt-test", "object": "model", "created": 1, "owned_by": "x"}],
    }
    openai_server.script(Step(body=models))
    ollama_server.script(Step(500, {"error": "broken"}))
    r = await api("GET", "ai/providers")
    assert r.status == 200, r.body
    by_name = {p["name"]: p for p in r.body["items"]}
    assert by_name["openai"]["reachable"] is True
    assert by_name["openai"]["models"] == ["gpt-test"]
    assert by_name["gemini"]["configured"] is False
    assert "GEMINI_API_KEY" in by_name["gemini"]["hint"]
    assert by_name["gemini"]["reachable"] is None
    assert by_name["ollama"]["reachable"] is False
    assert "HTTP 500" in by_name["ollama"]["error"]
    # Cached: a second listing does not call the providers again.
    r = await api("GET", "ai/providers")
    assert len(openai_server.requests) == 1


async def test_a_streamed_completion_and_its_analytics(api, upstreams):
    openai_server, _ = upstreams
    openai_server.script(Step(sse=[chunk("Hel"), chunk("lo"), USAGE, "[DONE]"]))
    r = await complete(api, model="openai:gpt-test")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/x-ndjson"
    events = lines(r)
    assert [e["text"] for e in events if e["type"] == "text"] == ["Hel", "lo"]
    assert {"type": "usage", "input_tokens": 5, "output_tokens": 2} in events
    assert events[-1] == {
        "type": "done",
        "provider": "openai",
        "model": "gpt-test",
        "cached": False,
        "skipped": [],
    }
    assert "sk-server" not in r.raw.decode()
    r = await api("GET", "ai/analytics")
    assert r.status == 200, r.body
    total = r.body["total"]
    assert (total["calls"], total["errors"], total["tokens_in"], total["tokens_out"]) == (
        1,
        0,
        5,
        2,
    )
    assert r.body["by_provider_model_day"][0]["provider"] == "openai"
    other = await api("GET", "ai/analytics", user="bob")
    assert other.body["total"]["calls"] == 0  # callers see their own calls


async def test_fallback_happens_within_one_request(api, upstreams):
    openai_server, ollama_server = upstreams
    openai_server.script(Step(503, {"error": {"message": "overloaded"}}))
    ollama_server.script(
        Step(
            ndjson=[
                {
                    "model": "llama3",
                    "created_at": "2026-11-27T00:00:00Z",
                    "message": {"role": "assistant", "content": "local answer"},
                    "done": True,
                }
            ]
        )
    )
    r = await complete(api, model="openai:gpt-test")
    assert r.status == 200, r.body
    events = lines(r)
    assert events[0] == {"type": "text", "text": "local answer"}
    done = events[-1]
    assert (done["provider"], done["model"]) == ("ollama", "llama3")
    assert done["skipped"][0]["model"] == "openai:gpt-test"
    assert "unavailable" in done["skipped"][0]["reason"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 400, "role"),
        ({"model": "claude:x"}, 400, "unknown provider"),
        ({}, 503, "no default model"),
        ({"model": "gemini:gemini-test"}, 503, "set GEMINI_API_KEY"),
        ({"temperature": 5, "model": "openai:m"}, 400, "temperature"),
    ],
)
async def test_bad_completion_requests(api, body, status, fragment, caplog):
    caplog.set_level(logging.INFO)
    r = await complete(api, **body)
    assert r.status == status, r.body
    assert fragment in json.dumps(r.error)
    # An answer we give on purpose (no model configured yet) is not a server fault.
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text


async def test_the_rate_limit_answers_429_with_retry_after(api, upstreams, jp_serverapp):
    openai_server, _ = upstreams
    services = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    (app,) = services
    from ai_notebook_ext.ai.router import TokenBucket

    app.services.ai.router.limiter = TokenBucket(per_minute=1, capacity=1)
    openai_server.script(Step(sse=[chunk("one"), "[DONE]"]))
    assert (await complete(api, model="openai:m")).status == 200
    r = await complete(api, model="openai:m")
    assert r.status == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert r.error["code"] == "rate_limited"
    assert len(openai_server.requests) == 1
