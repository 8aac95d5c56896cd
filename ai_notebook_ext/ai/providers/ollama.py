"""Ollama (local models) through the official ``ollama`` client.

Configuration: ``OLLAMA_HOST`` (default http://127.0.0.1:11434). No key: it is configured
when a host is known, and ``health()`` says whether it answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderError
from ..types import Chunk, TextDelta, ToolCall, ToolSpec, Usage
from .base import Provider, function_tools

DEFAULT_HOST = "http://127.0.0.1:11434"


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our messages in Ollama's shape: tool calls with object arguments, tool results
    named by ``tool_name``."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            calls = [
                {"function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in m["tool_calls"]
            ]
            out.append(
                {"role": "assistant", "content": m.get("content") or "", "tool_calls": calls}
            )
        elif m.get("role") == "tool":
            out.append({"role": "tool", "content": str(m["content"]), "tool_name": m["name"]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


class OllamaProvider(Provider):
    """Chat (streaming or not, with tool calls) and the local model list."""

    name = "ollama"
    sdk_modules = ("httpx",)

    def __init__(self, host: str | None = None) -> None:
        self.host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST

    def configured(self) -> str:
        return ""  # a local server needs no key; health() tells whether it runs

    def client(self, request_timeout: float) -> Any:
        import ollama  # lazily: loading the extension must not import it

        return ollama.AsyncClient(host=self.host, timeout=request_timeout)

    def error(self, exc: Exception) -> ProviderError:
        """The client's exception as a ProviderError saying what to do."""
        import httpx
        import ollama

        status = getattr(exc, "status_code", None)
        if isinstance(exc, httpx.TimeoutException):
            kind, text = "timeout", f"no answer from Ollama at {self.host} in time"
        elif isinstance(exc, ConnectionError | httpx.ConnectError):
            kind = "unavailable"
            text = (
                f"cannot reach Ollama at {self.host}: start it (`ollama serve`) or set OLLAMA_HOST"
            )
        elif isinstance(exc, ollama.ResponseError):
            detail = getattr(exc, "error", "") or str(exc)
            if status == 429:
                kind, text = "rate_limited", "Ollama is busy: retry later"
            elif status is not None and status >= 500:
                kind, text = "unavailable", f"Ollama failed (HTTP {status}): {detail}"
            elif status == 404:
                kind, text = "bad_request", f"{detail} (pull the model with `ollama pull`)"
            else:
                kind, text = "bad_request", f"the request was refused (HTTP {status}): {detail}"
        elif isinstance(exc, json.JSONDecodeError | ValueError):
            kind, text = "unavailable", f"Ollama at {self.host} sent an answer that is not valid"
        else:
            kind, text = "unavailable", f"{type(exc).__name__}: {exc}"
        return ProviderError(kind, self.name, text, status=status)

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
        import httpx
        import ollama

        request: dict[str, Any] = {"model": model, "messages": wire_messages(messages)}
        if tools:
            request["tools"] = function_tools(tools)
        if params:
            request["options"] = params
        try:
            client = self.client(request_timeout)
            if not stream:
                response = await client.chat(**request)
                for piece in self._pieces(response, final=True):
                    yield piece
                return
            async for part in await client.chat(stream=True, **request):
                for piece in self._pieces(part, final=bool(part.done)):
                    yield piece
        except ProviderError:
            raise
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
            raise self.error(exc) from exc

    @staticmethod
    def _pieces(response: Any, final: bool) -> list[Chunk]:
        pieces: list[Chunk] = []
        message = response.message
        if message is not None and message.content:
            pieces.append(TextDelta(message.content))
        for index, call in enumerate((message.tool_calls if message else None) or []):
            args = dict(call.function.arguments or {})
            pieces.append(ToolCall(f"call_{index}", call.function.name, args))
        if final and (response.prompt_eval_count is not None or response.eval_count is not None):
            pieces.append(Usage(response.prompt_eval_count, response.eval_count))
        return pieces

    async def list_models(self, request_timeout: float = 10.0) -> list[str]:
        import httpx
        import ollama

        try:
            listed = await self.client(request_timeout).list()
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
            raise self.error(exc) from exc
        return sorted(m.model for m in listed.models if m.model)
