"""OpenAI and any OpenAI-compatible server, through the official ``openai`` client.

Configuration: ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (or the arguments). The client
retries nothing itself (``max_retries=0``): the router decides about retries and fallback.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderError
from ..types import Chunk, TextDelta, ToolCall, ToolSpec, Usage
from .base import Provider, function_tools, retry_after


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our messages in OpenAI's shape: tool calls with JSON-text arguments, tool results
    with their ``tool_call_id``."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            calls = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                }
                for c in m["tool_calls"]
            ]
            out.append(
                {"role": "assistant", "content": m.get("content") or None, "tool_calls": calls}
            )
        elif m.get("role") == "tool":
            out.append(
                {"role": "tool", "tool_call_id": m["tool_call_id"], "content": str(m["content"])}
            )
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


class OpenAIProvider(Provider):
    """Chat completions (streaming or not, with tool calls) and the model list."""

    name = "openai"
    sdk_modules = ("openai",)

    def __init__(self, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._client: Any = None
        self._loop: Any = None

    def configured(self) -> str:
        if self.api_key or self.base_url:
            return ""
        return "set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)"

    def client(self) -> Any:
        """One client (and connection pool) per event loop: magics may run each call in a
        loop of its own."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import openai  # lazily: loading the extension must not import it

            self._client = openai.AsyncOpenAI(
                api_key=self.api_key or "unused", base_url=self.base_url, max_retries=0
            )
            self._loop = loop
        return self._client

    def error(self, exc: Exception) -> ProviderError:
        """The client's exception as a ProviderError saying what to do."""
        import openai

        where = self.base_url or "api.openai.com"
        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            kind, text = "auth", "the API key was refused: check OPENAI_API_KEY"
        elif isinstance(exc, openai.RateLimitError):
            kind, text = "rate_limited", "rate limited by the provider: retry later"
        elif isinstance(exc, openai.APITimeoutError):
            kind, text = "timeout", f"no answer from {where} in time"
        elif isinstance(exc, openai.APIConnectionError):
            kind, text = "unavailable", f"cannot reach {where}: is it running (OPENAI_BASE_URL)?"
        elif isinstance(exc, openai.InternalServerError) or (status or 0) >= 500:
            kind, text = "unavailable", f"{where} failed (HTTP {status}): retry later"
        elif isinstance(exc, openai.APIStatusError):
            detail = getattr(exc, "message", "") or str(exc)
            kind, text = "bad_request", f"the request was refused (HTTP {status}): {detail}"
        elif isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
            kind, text = "unavailable", f"{where} sent an answer that is not valid"
        else:
            kind, text = "unavailable", f"{type(exc).__name__}: {exc}"
        return ProviderError(kind, self.name, text, retry_after=retry_after(exc), status=status)

    async def chat(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        tools: list[ToolSpec] | None = None,
        stream: bool = False,
        request_timeout: float = 60.0,
        **params: Any,
    ) -> AsyncIterator[Chunk]:
        self.require_configured()
        import openai

        request: dict[str, Any] = {"model": model, "messages": wire_messages(messages), **params}
        if tools:
            request["tools"] = function_tools(tools)
        try:
            if not stream:
                response = await self.client().chat.completions.create(
                    timeout=request_timeout, **request
                )
                for chunk in self._whole(response):
                    yield chunk
                return
            events = await self.client().chat.completions.create(
                stream=True,
                stream_options={"include_usage": True},
                timeout=request_timeout,
                **request,
            )
            calls: dict[int, dict[str, Any]] = {}
            usage: Usage | None = None
            async for event in events:
                if event.usage is not None:
                    usage = Usage(event.usage.prompt_tokens, event.usage.completion_tokens)
                for choice in event.choices:
                    if choice.finish_reason == "content_filter":
                        raise ProviderError(
                            "content_filtered", self.name, "the answer was withheld by a filter"
                        )
                    delta = choice.delta
                    if delta.content:
                        yield TextDelta(delta.content)
                    for part in delta.tool_calls or []:
                        call = calls.setdefault(part.index, {"id": "", "name": "", "args": ""})
                        call["id"] = part.id or call["id"]
                        if part.function is not None:
                            call["name"] = part.function.name or call["name"]
                            call["args"] += part.function.arguments or ""
            for index in sorted(calls):
                call = calls[index]
                yield self._call(call["id"], call["name"], call["args"])
            if usage is not None:
                yield usage
        except ProviderError:
            raise
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise self.error(exc) from exc

    def _whole(self, response: Any) -> list[Chunk]:
        chunks: list[Chunk] = []
        for choice in response.choices:
            if choice.finish_reason == "content_filter":
                raise ProviderError(
                    "content_filtered", self.name, "the answer was withheld by a filter"
                )
            if choice.message.content:
                chunks.append(TextDelta(choice.message.content))
            for call in choice.message.tool_calls or []:
                chunks.append(self._call(call.id, call.function.name, call.function.arguments))
        if response.usage is not None:
            chunks.append(Usage(response.usage.prompt_tokens, response.usage.completion_tokens))
        return chunks

    @staticmethod
    def _call(call_id: str, name: str, text: str) -> ToolCall:
        """A tool call; arguments that are not a JSON object become the call's error."""
        try:
            value = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            return ToolCall(call_id, name, {}, error=f"the arguments are not valid JSON: {exc}")
        if not isinstance(value, dict):
            return ToolCall(call_id, name, {}, error="the arguments must be a JSON object")
        return ToolCall(call_id, name, value)

    async def list_models(self, request_timeout: float = 10.0) -> list[str]:
        self.require_configured()
        import openai

        try:
            page = await self.client().models.list(timeout=request_timeout)
            return sorted(m.id for m in page.data)
        except openai.OpenAIError as exc:
            raise self.error(exc) from exc
