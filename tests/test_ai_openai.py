"""The OpenAI provider through the official client against a scripted local server."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from ai_server import Step
from ai_server import collect as collect_chunks

from ai_notebook_ext.ai.errors import ProviderError
from ai_notebook_ext.ai.providers.openai import OpenAIProvider
from ai_notebook_ext.ai.types import TextDelta, ToolCall, ToolSpec, Usage, message

MESSAGES = [message("user", "say hi")]
WEATHER = ToolSpec(
    "weather",
    "The weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def completion(content=None, tool_calls=None, finish="stop"):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": tool_calls},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def chunk(delta=None, finish=None, usage=None):
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test-model",
        "choices": choices,
    }
    if usage:
        body["usage"] = usage
    return body


def collect(provider, **kwargs):
    return collect_chunks(provider, "test-model", MESSAGES, **kwargs)


@pytest.fixture
def provider(server):
    return OpenAIProvider(api_key="sk-test", base_url=server.url + "/v1")


def test_a_whole_answer_with_usage(server, provider):
    server.script(Step(body=completion("Hello there")))
    assert collect(provider) == [TextDelta("Hello there"), Usage(11, 7)]
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "test-model"
    assert request["body"]["messages"] == MESSAGES


def test_a_streamed_answer_arrives_in_order(server, provider):
    server.script(
        Step(
            sse=[
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "Hel"}),
                chunk({"content": "lo"}),
                chunk({}, finish="stop"),
                chunk(usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
                "[DONE]",
            ]
        )
    )
    assert collect(provider, stream=True) == [TextDelta("Hel"), TextDelta("lo"), Usage(3, 2)]
    body = server.requests[0]["body"]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_streamed_tool_calls_are_assembled(server, provider):
    server.script(
        Step(
            sse=[
                chunk(
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "weather", "arguments": '{"ci'},
                            }
                        ],
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
                chunk({}, finish="tool_calls"),
                "[DONE]",
            ]
        )
    )
    assert collect(provider, stream=True, tools=[WEATHER]) == [
        ToolCall("call_1", "weather", {"city": "Oslo"})
    ]
    tools = server.requests[0]["body"]["tools"]
    assert tools == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "The weather in a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]


def test_whole_tool_calls(server, provider):
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Lima"}'},
    }
    server.script(Step(body=completion(None, [call], "tool_calls")))
    assert collect(provider, tools=[WEATHER]) == [
        ToolCall("call_9", "weather", {"city": "Lima"}),
        Usage(11, 7),
    ]


@pytest.mark.parametrize(
    ("step", "kind", "fragment"),
    [
        (Step(500, {"error": {"message": "boom"}}), "unavailable", "HTTP 500"),
        (Step(503, {"error": {"message": "overloaded"}}), "unavailable", "retry later"),
        (Step(401, {"error": {"message": "bad key"}}), "auth", "OPENAI_API_KEY"),
        (Step(400, {"error": {"message": "model x missing"}}), "bad_request", "model x missing"),
        (Step(raw=b"this is not json"), "unavailable", "not valid"),
        (Step(body=completion("", finish="content_filter")), "content_filtered", "filter"),
    ],
)
def test_failures_are_normalized(server, provider, step, kind, fragment):
    server.script(step)
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == kind
    assert fragment in caught.value.message
    assert caught.value.provider == "openai"


def test_rate_limits_carry_retry_after(server, provider):
    server.script(Step(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"}))
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == "rate_limited"
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable
    assert len(server.requests) == 1  # the client itself does not retry


def test_a_slow_server_times_out(server, provider):
    server.script(Step(body=completion("late"), delay=1.5))
    with pytest.raises(ProviderError) as caught:
        collect(provider, request_timeout=0.3)
    assert caught.value.kind == "timeout"


def test_a_refused_connection_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    provider = OpenAIProvider(api_key="k", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == "unavailable"
    assert "cannot reach" in caught.value.message


def test_not_configured_says_what_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    provider = OpenAIProvider()
    assert "OPENAI_API_KEY" in provider.configured()
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == "not_configured"
    assert "OPENAI_API_KEY" in caught.value.message


def test_models_are_listed_and_health_reports(server, provider):
    models = {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1, "owned_by": "x"}
            for m in ("b-model", "a-model")
        ],
    }
    server.script(Step(body=models), Step(body=models), Step(502, {"error": {"message": "x"}}))

    async def calls():  # one event loop: the client's connection pool lives in it
        return await provider.list_models(), await provider.health(), await provider.health()

    listed, healthy, broken = asyncio.run(calls())
    assert listed == ["a-model", "b-model"]
    assert server.requests[0]["path"] == "/v1/models"
    assert healthy == ""
    assert "HTTP 502" in broken


def test_loading_the_extension_does_not_import_the_clients():
    code = (
        "import sys, ai_notebook_ext, ai_notebook_ext.app, ai_notebook_ext.ai.providers.openai\n"
        "loaded = [m for m in ('openai', 'google.genai', 'ollama') if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


ROUND_TRIP = [
    message("user", "weather?"),
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call_1", "name": "weather", "arguments": {"city": "Oslo"}}],
    },
    {"role": "tool", "tool_call_id": "call_1", "name": "weather", "content": '{"temp": 3}'},
]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_results_go_back_in_openai_shape(server, provider, stream):
    if stream:
        server.script(
            Step(sse=[chunk({"content": "3 degrees"}), chunk({}, finish="stop"), "[DONE]"])
        )
    else:
        server.script(Step(body=completion("3 degrees")))
    chunks = collect_chunks(provider, "test-model", ROUND_TRIP, tools=[WEATHER], stream=stream)
    assert chunks[0] == TextDelta("3 degrees")
    sent = server.requests[0]["body"]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 3}'}


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_tool_arguments_become_the_calls_error(server, provider, stream):
    bad = {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{ci"}}
    if stream:
        part = {"index": 0, **bad}
        server.script(
            Step(sse=[chunk({"tool_calls": [part]}), chunk({}, finish="tool_calls"), "[DONE]"])
        )
    else:
        server.script(Step(body=completion(None, [bad], "tool_calls")))
    (call, *_) = collect(provider, tools=[WEATHER], stream=stream)
    assert call.name == "weather"
    assert call.arguments == {}
    assert "not valid JSON" in call.error
