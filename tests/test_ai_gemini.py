"""The Gemini provider through google-genai against a scripted local server."""

from __future__ import annotations

import asyncio

import pytest
from ai_server import Step
from ai_server import collect as collect_chunks

from ai_notebook_ext.ai.errors import ProviderError
from ai_notebook_ext.ai.providers.gemini import GeminiProvider
from ai_notebook_ext.ai.types import TextDelta, ToolCall, ToolSpec, Usage, message

MESSAGES = [message("system", "be brief"), message("user", "say hi")]


def answer(*parts, finish="STOP", usage=True):
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": finish, "index": 0}
        ]
    }
    if usage:
        body["usageMetadata"] = {
            "promptTokenCount": 5,
            "candidatesTokenCount": 2,
            "totalTokenCount": 7,
        }
    return body


def collect(provider, **kwargs):
    return collect_chunks(provider, "gemini-test", MESSAGES, **kwargs)


@pytest.fixture
def provider(server):
    return GeminiProvider(api_key="g-key", base_url=server.url)


def test_a_whole_answer(server, provider):
    server.script(Step(body=answer({"text": "Hello"})))
    assert collect(provider) == [TextDelta("Hello"), Usage(5, 2)]
    request = server.requests[0]
    assert request["path"].endswith("/models/gemini-test:generateContent")
    assert request["headers"]["x-goog-api-key"] == "g-key"
    assert request["body"]["contents"] == [{"role": "user", "parts": [{"text": "say hi"}]}]
    assert request["body"]["systemInstruction"]["parts"][0]["text"] == "be brief"


def test_a_streamed_answer(server, provider):
    server.script(Step(sse=[answer({"text": "Hel"}, usage=False), answer({"text": "lo"})]))
    assert collect(provider, stream=True) == [TextDelta("Hel"), TextDelta("lo"), Usage(5, 2)]
    assert ":streamGenerateContent" in server.requests[0]["path"]


def test_function_calls(server, provider):
    weather = ToolSpec(
        "weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    server.script(
        Step(body=answer({"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}))
    )
    chunks = collect(provider, tools=[weather])
    assert chunks[0].name == "weather"
    assert chunks[0].arguments == {"city": "Oslo"}
    assert isinstance(chunks[0], ToolCall)
    declared = server.requests[0]["body"]["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "weather"
    # The client sends the schema under the proto field name (JSON accepts either case).
    schema = declared.get("parametersJsonSchema", declared.get("parameters_json_schema"))
    assert schema == weather.parameters


@pytest.mark.parametrize(
    ("step", "kind", "fragment"),
    [
        (
            Step(500, {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
            "unavailable",
            "HTTP 500",
        ),
        (
            Step(429, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}),
            "rate_limited",
            "retry later",
        ),
        (
            Step(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            ),
            "auth",
            "GEMINI_API_KEY",
        ),
        (
            Step(
                400, {"error": {"code": 400, "message": "bad field", "status": "INVALID_ARGUMENT"}}
            ),
            "bad_request",
            "bad field",
        ),
        (Step(body=answer({"text": ""}, finish="SAFETY")), "content_filtered", "safety"),
    ],
)
def test_failures_are_normalized(server, provider, step, kind, fragment):
    server.script(step)
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == kind, caught.value
    assert fragment in caught.value.message


def test_a_slow_server_times_out(server, provider):
    server.script(Step(body=answer({"text": "late"}), delay=1.5))
    with pytest.raises(ProviderError) as caught:
        collect(provider, request_timeout=0.3)
    assert caught.value.kind == "timeout"


def test_not_configured(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    provider = GeminiProvider()
    with pytest.raises(ProviderError) as caught:
        collect(provider)
    assert caught.value.kind == "not_configured"
    assert "GEMINI_API_KEY" in caught.value.message


def test_models(server, provider):
    server.script(Step(body={"models": [{"name": "models/gemini-b"}, {"name": "models/gemini-a"}]}))
    assert asyncio.run(provider.list_models()) == ["gemini-a", "gemini-b"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_results_go_back_as_function_responses(server, provider, stream):
    messages = [
        message("user", "weather in Oslo and Lima?"),
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}},
                {"id": "c2", "name": "weather", "arguments": {"city": "Lima"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": "3"},
        {"role": "tool", "tool_call_id": "c2", "name": "weather", "content": "20"},
    ]
    if stream:
        server.script(Step(sse=[answer({"text": "Cold and warm"})]))
    else:
        server.script(Step(body=answer({"text": "Cold and warm"})))
    chunks = collect_chunks(provider, "gemini-test", messages, stream=stream)
    assert chunks[0] == TextDelta("Cold and warm")
    contents = server.requests[0]["body"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    model_parts = contents[1]["parts"]
    assert model_parts[0] == {"text": "Checking."}
    calls = [p.get("functionCall", p.get("function_call")) for p in model_parts[1:]]
    assert [c["args"] for c in calls] == [{"city": "Oslo"}, {"city": "Lima"}]
    responses = [
        p.get("functionResponse", p.get("function_response")) for p in contents[2]["parts"]
    ]
    assert [(r["name"], r["response"]) for r in responses] == [
        ("weather", {"result": "3"}),
        ("weather", {"result": "20"}),
    ]
