"""The interface every provider implements."""

from __future__ import annotations

import asyncio
import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

from ..errors import ProviderError
from ..types import Chunk, ToolSpec


def function_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools in the OpenAI function-calling shape (OpenAI and Ollama both take it)."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def retry_after(exc: Exception) -> float | None:
    """Seconds from the Retry-After header of the HTTP response behind a client error."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_imports: dict[str, Future[Any]] = {}
_imports_lock = threading.Lock()


def _import(module: str) -> Future[Any]:
    """The import of ``module`` in a thread of its own, started once per process."""
    with _imports_lock:
        done = _imports.get(module)
        if done is None:
            done = _imports[module] = Future()
            threading.Thread(target=_run_import, args=(module, done), daemon=True).start()
    return done


def _run_import(module: str, done: Future[Any]) -> None:
    try:
        done.set_result(importlib.import_module(module))
    except BaseException as exc:
        done.set_exception(exc)


class Provider(ABC):
    """One AI service behind its official client, imported only when first used."""

    name: str = ""
    # The client library's modules: ``load()`` imports them off the event loop.
    sdk_modules: tuple[str, ...] = ()

    async def load(self) -> None:
        """Import the client library in a thread, once: the first import of an SDK takes
        seconds on a busy machine, which must not count against a request's timeout (nor
        block the event loop). Callers arriving meanwhile wait for the same import (a
        module is in sys.modules while it is still being imported)."""
        for module in self.sdk_modules:
            done = _import(module)
            if not done.done():
                await asyncio.wrap_future(done)
            done.result()  # its ImportError, if any

    @abstractmethod
    def configured(self) -> str:
        """ "" when usable; otherwise what to set (an environment variable or a trait)."""

    def require_configured(self) -> None:
        """Raise the not-configured error that says what to set, if anything is missing."""
        missing = self.configured()
        if missing:
            raise ProviderError("not_configured", self.name, missing)

    @abstractmethod
    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        tools: list[ToolSpec] | None = None,
        stream: bool = False,
        request_timeout: float = 60.0,
        **params: Any,
    ) -> AsyncIterator[Chunk]:
        """The answer as chunks: text deltas in order, then tool calls, then usage.
        Raises ProviderError (normalized) on failure."""

    @abstractmethod
    async def list_models(self, request_timeout: float = 10.0) -> list[str]:
        """Model names the service offers."""

    async def health(self, request_timeout: float = 5.0) -> str:
        """ "" when reachable, else why not (never raises)."""
        try:
            await self.list_models(request_timeout=request_timeout)
        except ProviderError as exc:
            return exc.message
        return ""
