"""Scripted models for agent tests: tool calls and answers in each provider's wire format
(OpenAI, Gemini, Ollama; streamed or whole), and reading tool results back out of the
requests the agent sends."""

from __future__ import annotations

import json
from typing import Any

from ai_server import Step

NOW = "2026-12-03T00:00:00Z"


class Model:
    """Answers in one protocol: ``calls(("run_block", {...}), ...)`` and ``answer(text)``."""

    def __init__(self, provider: str, stream: bool) -> None:
        self.provider, self.stream = provider, stream
        self.count = 0

    # --- answers -------------------------------------------------------------------

    def calls(self, *calls: tuple[str, dict[str, Any] | str], text: str = "") -> Step:
        self.count += 1
        return getattr(self, f"_{self.provider}")(text, list(calls))

    def answer(self, text: str) -> Step:
        return self.calls(text=text)

    def _openai(self, text: str, calls: list[tuple[str, Any]]) -> Step:
        wire = [
            {
                "id": f"call_{self.count}_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(calls)
        ]
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        if not self.stream:
            body = {
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": text or None,
                            "tool_calls": wire or None,
                        },
                        "finish_reason": "tool_calls" if wire else "stop",
                    }
                ],
                "usage": usage,
            }
            return Step(body=body)

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> Any:
            choices = (
                [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            )
            return {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": choices,
                **extra,
            }

        events = [chunk({"role": "assistant", "content": ""})]
        for piece in _pieces(text):
            events.append(chunk({"content": piece}))
        for i, call in enumerate(wire):
            args = call["function"]["arguments"]
            half = len(args) // 2
            first = {
                **call,
                "index": i,
                "function": {"name": call["function"]["name"], "arguments": args[:half]},
            }
            events.append(chunk({"tool_calls": [first]}))
            events.append(
                chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
            )
        events.append(chunk({}, "tool_calls" if wire else "stop"))
        events.append(chunk(None, usage=usage))
        return Step(sse=[*events, "[DONE]"])

    def _gemini(self, text: str, calls: list[tuple[str, Any]]) -> Step:
        parts: list[dict[str, Any]] = [{"text": p} for p in _pieces(text)] if text else []
        parts += [
            {"functionCall": {"id": f"g{self.count}_{i}", "name": n, "args": a}}
            for i, (n, a) in enumerate(calls)
        ]
        usage = {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120}

        def body(ps: list[dict[str, Any]], last: bool) -> dict[str, Any]:
            out: dict[str, Any] = {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": ps},
                        "index": 0,
                        **({"finishReason": "STOP"} if last else {}),
                    }
                ]
            }
            if last:
                out["usageMetadata"] = usage
            return out

        if not self.stream:
            return Step(body=body(parts, True))
        events = [body([p], False) for p in parts[:-1]] + [body(parts[-1:], True)]
        return Step(sse=events)

    def _ollama(self, text: str, calls: list[tuple[str, Any]]) -> Step:
        def reply(content: str, done: bool, tool_calls: Any = None) -> dict[str, Any]:
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            body: dict[str, Any] = {"model": "m", "created_at": NOW, "message": msg, "done": done}
            if done:
                body |= {"done_reason": "stop", "prompt_eval_count": 100, "eval_count": 20}
            return body

        wire = [{"function": {"name": n, "arguments": a}} for n, a in calls]
        if not self.stream:
            return Step(body=reply(text, True, wire))
        events = [reply(p, False) for p in _pieces(text)]
        events.append(reply("", True, wire))
        return Step(ndjson=events)


def _pieces(text: str) -> list[str]:
    """Text in a few pieces, as a streamed answer arrives."""
    if not text:
        return []
    size = max(1, len(text) // 3)
    return [text[i : i + size] for i in range(0, len(text), size)]


def tool_results(provider: str, body: dict[str, Any]) -> list[Any]:
    """The tool results in a request the agent sent, oldest first, parsed when JSON."""
    found: list[str] = []
    if provider == "gemini":
        for content in body["contents"]:
            for part in content["parts"]:
                response = part.get("functionResponse") or part.get("function_response")
                if response:
                    found.append(response["response"]["result"])
    else:
        found = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    out: list[Any] = []
    for text in found:
        try:
            out.append(json.loads(text))
        except ValueError:
            out.append(text)
    return out


def system_text(provider: str, body: dict[str, Any]) -> str:
    if provider == "gemini":
        return body["systemInstruction"]["parts"][0]["text"]
    return next(m["content"] for m in body["messages"] if m["role"] == "system")


def events_of(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
