"""The Ollama provider through the official client against a scripted local server."""

from __future__ import annotations

import asyncio
import socket

import pytest
from ai_server import Step
from ai_server import collect as collect_chunks

from ai_notebook_ext.ai.errors import ProviderError
from ai_notebook_ext.ai.providers.ollama import OllamaProvider
from ai_notebook_ext.ai.types import TextDelta, ToolCall, ToolSpec, Usage, message

MESSAGES = [message("user", "say hi")]
NOW = "2026-11-27T00:00:00Z"


def reply(content="", tool_calls=None, done=True, **extra):
    body = {
        "model": "llama3",
        "created_at": NOW,
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if tool_calls:
        body["message"]["tool_calls"] = tool_calls
    if done:
        body |= {"done_reason": "stop", "prompt_eval_count": 9, "eval_count": 4}
    return body | extra


def collect(provider, **kwargs):
    return collect_chunks(provider, "llama3", MESSAGES, **kwargs)


@pytest.fixture
def provider(server):
    return OllamaProvider(host=server.url)


def test_a_whole_answer(server, provider):
    server.script(Step(body=reply("Hello")))
    assert collect(provider) == [TextDelta("Hello"), Usage(9, 4)]
    request = server.requests[0]
    assert request["path"] == "/api/chat"
    assert request["body"]["model"] == "llama3"
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["stream"] is False


def test_a_streamed_answer_in_ndjson(server, provider):
    server.script(Step(ndjson=[reply("Hel", done=False), reply("lo", done=False), reply("")]))
    assert collect(provider, stream=True) == [TextDelta("Hel"), TextDelta("lo"), Usage(9, 4)]
    assert server.requests[0]["body"]["stream"] is True


def test_tool_calls(server, provider):
    weather = ToolSpec("weather", "Weather.", {"type": "object"})
    call = {"function": {"name": "weather", "arguments": {"city": "Oslo"}}}
    server.script(Step(body=reply("", tool_calls=[call])))
    assert collect(provider, tools=[weather]) == [
        ToolCall("call_0", "weather", {"city": "Oslo"}),
        Usage(9, 4),
    ]
    assert server.requests[0]["body"]["tools"][0]["function"]["name"] == "weather"


@pytest.mark.parametrize(
    ("step", "kind", "fragment"),
    [
        (Step(500, {"error": "boom"}), "unavailable", "HTTP 500"),
        (Step(404, {"error": "model 'llama3' not found"}), "bad_request", "ollama pull"),
        (Step(429, {"error": "busy"}), "rate_limited", "busy"),
        (Step(raw=b"{not json"), "unavailable", "not valid"),
    ],
)
def test_failures_are_normalized(server, provider, step, kind, fragment):
    server.script(step)
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == kind, caught.value
    assert fragment in caught.value.message


def test_a_slow_server_times_out(server, provider):
    server.script(Step(body=reply("late"), delay=1.5))
    with pytest.raises(ProviderError) as caught:
        collect(provider, request_timeout=0.3)
    assert caught.value.kind == "timeout"


def test_nothing_listening_says_how_to_start_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = OllamaProvider(host=f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == "unavailable"
    assert "ollama serve" in caught.value.message
    assert "OLLAMA_HOST" in asyncio.run(provider.health())


def test_models_from_api_tags(server, provider):
    tags = {
        "models": [
            {"name": m, "model": m, "modified_at": NOW, "size": 1, "digest": "d", "details": {}}
            for m in ("qwen2:7b", "llama3:latest")
        ]
    }
    server.script(Step(body=tags))
    assert asyncio.run(provider.list_models()) == ["llama3:latest", "qwen2:7b"]
    assert server.requests[0]["path"] == "/api/tags"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_results_go_back_in_ollama_shape(server, provider, stream):
    messages = [
        message("user", "weather?"),
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_0", "name": "weather", "arguments": {"city": "Oslo"}}],
        },
        {"role": "tool", "tool_call_id": "call_0", "name": "weather", "content": "3 degrees"},
    ]
    if stream:
        server.script(Step(ndjson=[reply("It is 3", done=False), reply("")]))
    else:
        server.script(Step(body=reply("It is 3")))
    chunks = collect_chunks(provider, "llama3", messages, stream=stream)
    assert chunks[0] == TextDelta("It is 3")
    sent = server.requests[0]["body"]["messages"]
    assert sent[1]["tool_calls"] == [
        {"function": {"name": "weather", "arguments": {"city": "Oslo"}}}
    ]
    assert sent[2] == {"role": "tool", "content": "3 degrees", "tool_name": "weather"}
