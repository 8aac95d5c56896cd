"""Google Gemini through the official ``google-genai`` client (not google-generativeai).

Configuration: ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``); ``base_url`` for a proxy or a
local server speaking the same protocol.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderError
from ..types import Chunk, TextDelta, ToolCall, ToolSpec, Usage
from .base import Provider, retry_after

ROLES = {"user": "user", "assistant": "model", "model": "model"}


def contents_of(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """OpenAI-style messages as Gemini contents, and the system instruction apart. Tool
    calls become ``function_call`` parts of the model's turn; consecutive tool results
    become one user turn of ``function_response`` parts."""
    system = [str(m["content"]) for m in messages if m.get("role") == "system"]
    contents: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role", "user")
        if role == "system":
            continue
        if role == "tool":
            part = {
                "function_response": {
                    "id": m.get("tool_call_id") or None,
                    "name": m["name"],
                    "response": {"result": str(m["content"])},
                }
            }
            last = contents[-1] if contents else None
            if last is not None and last.get("_tools"):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part], "_tools": True})
            continue
        parts: list[dict[str, Any]] = []
        if m.get("content"):
            parts.append({"text": str(m["content"])})
        for call in m.get("tool_calls") or []:
            parts.append(
                {
                    "function_call": {
                        "id": call["id"],
                        "name": call["name"],
                        "args": call["arguments"],
                    }
                }
            )
        contents.append({"role": ROLES.get(role, "user"), "parts": parts or [{"text": ""}]})
    for content in contents:
        content.pop("_tools", None)
    return contents, "\n\n".join(system) or None


class GeminiProvider(Provider):
    """generateContent / streamGenerateContent (with function calls) and the model list."""

    name = "gemini"
    sdk_modules = ("google.genai", "google.genai.types", "google.genai.errors")

    def __init__(self, api_key: str | None = None, base_url: str | None = None) -> None:
        env = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY") or ""
        self.api_key = api_key if api_key is not None else env
        self.base_url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None

    def configured(self) -> str:
        return "" if self.api_key else "set GEMINI_API_KEY (or GOOGLE_API_KEY)"

    def client(self, request_timeout: float) -> Any:
        from google import genai  # lazily: loading the extension must not import it
        from google.genai import types

        options: dict[str, Any] = {"timeout": int(request_timeout * 1000)}
        if self.base_url:
            options["base_url"] = self.base_url
        return genai.Client(api_key=self.api_key, http_options=types.HttpOptions(**options))

    def error(self, exc: Exception) -> ProviderError:
        """The client's exception as a ProviderError saying what to do."""
        from google.genai import errors

        where = self.base_url or "the Gemini API"
        status = getattr(exc, "code", None)
        # google-genai's HTTP layer may be httpx or its httpx2 fork: judge by class name.
        names = {cls.__name__ for cls in type(exc).__mro__}
        if any("Timeout" in name for name in names):
            kind, text = "timeout", f"no answer from {where} in time"
        elif names & {"ConnectError", "ConnectionError"}:
            kind, text = "unavailable", f"cannot reach {where}"
        elif isinstance(exc, errors.APIError):
            detail = getattr(exc, "message", "") or str(exc)
            if status in (401, 403) or "API key" in detail:
                kind, text = "auth", "the API key was refused: check GEMINI_API_KEY"
            elif status == 429:
                kind, text = "rate_limited", "rate limited by Gemini: retry later"
            elif isinstance(exc, errors.ServerError) or (status or 0) >= 500:
                kind, text = "unavailable", f"{where} failed (HTTP {status}): retry later"
            else:
                kind, text = "bad_request", f"the request was refused (HTTP {status}): {detail}"
        elif isinstance(exc, json.JSONDecodeError | ValueError):
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
        contents, system = contents_of(messages)
        config: dict[str, Any] = dict(params)
        if system:
            config["system_instruction"] = system
        if tools:
            config["tools"] = [
                {
                    "function_declarations": [
                        {
                            "name": t.name,
                            "description": t.description,
                            "parameters_json_schema": t.parameters,
                        }
                        for t in tools
                    ]
                }
            ]
        try:
            # Closed here, not left to the garbage collector (whose close is a task that
            # may outlive the event loop).
            async with self.client(request_timeout).aio as aio:
                if not stream:
                    response = await aio.models.generate_content(
                        model=model, contents=contents, config=config or None
                    )
                    for piece in self._pieces(response, final=True):
                        yield piece
                    return
                last: Any = None
                async for part in await aio.models.generate_content_stream(
                    model=model, contents=contents, config=config or None
                ):
                    for piece in self._pieces(part, final=False):
                        yield piece
                    last = part
                if last is not None and last.usage_metadata is not None:
                    usage = last.usage_metadata
                    yield Usage(usage.prompt_token_count, usage.candidates_token_count)
        except ProviderError:
            raise
        except Exception as exc:  # the client's and its HTTP layer's, normalized
            raise self.error(exc) from exc

    def _pieces(self, response: Any, final: bool) -> list[Chunk]:
        pieces: list[Chunk] = []
        for candidate in response.candidates or []:
            reason = str(candidate.finish_reason or "")
            if reason.endswith(("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST")):
                raise ProviderError(
                    "content_filtered", self.name, "the answer was withheld by a safety filter"
                )
            for part in (candidate.content.parts if candidate.content else None) or []:
                if part.text:
                    pieces.append(TextDelta(part.text))
                if part.function_call is not None:
                    call = part.function_call
                    pieces.append(
                        ToolCall(call.id or f"call_{len(pieces)}", call.name, dict(call.args or {}))
                    )
        if final and response.usage_metadata is not None:
            usage = response.usage_metadata
            pieces.append(Usage(usage.prompt_token_count, usage.candidates_token_count))
        return pieces

    async def list_models(self, request_timeout: float = 10.0) -> list[str]:
        self.require_configured()
        try:
            async with self.client(request_timeout).aio as aio:
                pager = await aio.models.list()
                names = [m.name async for m in pager if m.name]
        except Exception as exc:  # the client's and its HTTP layer's, normalized
            raise self.error(exc) from exc
        return sorted(n.removeprefix("models/") for n in names)
