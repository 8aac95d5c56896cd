"""Routing AI calls: model ids, aliases, retries with backoff, fallback, limits, cache.

A model id is ``provider:model`` (jupyter-ai style) or an alias of one. A call goes to its
provider; a retryable failure (unavailable, timeout, rate limited) is retried with
exponential backoff and jitter, honouring Retry-After, then the fallback chain is tried
in order. Other failures (auth, bad request, content filtered, not configured) end the
call at once: another provider would not fix them. Once a streamed answer has started,
nothing is retried (the caller already has part of it). The last chunk of every answer is
a ``Route`` saying which provider answered and why others were skipped. Every call leaves
one analytics record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import metrics
from .errors import ProviderError
from .providers.base import Provider
from .types import Chunk, TextDelta, ToolCall, ToolSpec, Usage

MAX_RETRY_AFTER = 30.0  # a provider asking for a longer pause is skipped instead


@dataclass(frozen=True)
class Route:
    """How an answer was obtained (the last chunk of every answer)."""

    provider: str
    model: str
    skipped: tuple[tuple[str, str], ...] = ()  # (model id, why) of the ones that failed
    cached: bool = False


@dataclass
class CallRecord:
    """One analytics row."""

    user: str
    provider: str
    model: str
    status: str  # ok | error
    latency_ms: float
    first_token_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    error_kind: str | None = None
    cached: bool = False
    fell_back_from: str | None = None
    user_id: int | None = None
    started_at: float = field(default_factory=time.time)
    conversation_id: int | None = None  # the agent conversation that made the call


class RateLimited(Exception):
    """The user made too many calls; ``retry_after`` seconds until the next is allowed."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many AI requests: retry in {retry_after:.1f} s")
        self.retry_after = retry_after


class TokenBucket:
    """Per-user rate limit: ``capacity`` calls at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, capacity: float | None = None, clock=time.monotonic):
        self.rate = per_minute / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, per_minute)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, user: str) -> None:
        """Spend one call of ``user``'s budget, or raise RateLimited."""
        now = self.clock()
        tokens, last = self._buckets.get(user, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[user] = (tokens, now)
            raise RateLimited((1.0 - tokens) / self.rate if self.rate else float("inf"))
        self._buckets[user] = (tokens - 1.0, now)


class ResponseCache:
    """Answers of deterministic calls (temperature 0), kept in memory, LRU with a TTL."""

    def __init__(self, size: int = 512, ttl: float = 3600.0, clock=time.monotonic) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self._items: OrderedDict[str, tuple[float, list[Chunk], Route]] = OrderedDict()

    @staticmethod
    def key(model_id: str, messages: Any, tools: Any, params: dict[str, Any]) -> str:
        tool_data = [t.__dict__ for t in tools or []]
        blob = json.dumps([model_id, messages, tool_data, params], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> tuple[list[Chunk], Route] | None:
        item = self._items.get(key)
        if item is None or item[0] < self.clock():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return item[1], item[2]

    def put(self, key: str, chunks: list[Chunk], route: Route) -> None:
        self._items[key] = (self.clock() + self.ttl, chunks, route)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


Recorder = Callable[[CallRecord], Awaitable[None]]


class Router:
    """Sends chat calls to providers by model id, with retries, fallback and limits."""

    def __init__(
        self,
        providers: dict[str, Provider],
        *,
        aliases: dict[str, str] | None = None,
        default_model: str = "",
        fallback: list[str] | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        request_timeout: float = 60.0,
        limiter: TokenBucket | None = None,
        cache: ResponseCache | None = None,
        recorder: Recorder | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.providers = providers
        self.aliases = dict(aliases or {})
        self.default_model = default_model
        self.fallback = list(fallback or [])
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.request_timeout = request_timeout
        self.limiter, self.cache, self.recorder, self.sleep = limiter, cache, recorder, sleep

    def resolve(self, model_id: str | None) -> tuple[Provider, str, str]:
        """(provider, model, canonical id) for an id or alias; ProviderError if unknown."""
        wanted = (model_id or self.default_model or "").strip()
        if not wanted:
            raise ProviderError(
                "not_configured", "router", "no model given and no default model is set"
            )
        wanted = self.aliases.get(wanted, wanted)
        name, sep, model = wanted.partition(":")
        if not sep or not model:
            raise ProviderError(
                "bad_request", "router", f"model {wanted!r} is not provider:model or an alias"
            )
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise ProviderError(
                "bad_request", "router", f"unknown provider {name!r} (known: {known})"
            )
        return provider, model, f"{name}:{model}"

    async def chat(
        self,
        user: str,
        model_id: str | None,
        messages: list[dict[str, Any]],
        *,
        tools: list[ToolSpec] | None = None,
        stream: bool = False,
        cache: bool = False,
        user_id: int | None = None,
        conversation_id: int | None = None,
        **params: Any,
    ) -> AsyncIterator[Chunk | Route]:
        """The answer's chunks, then a Route; raises ProviderError or RateLimited.
        ``user_id`` and ``conversation_id`` go into the analytics record."""
        if self.limiter is not None:
            self.limiter.take(user)
        _, _, first_id = self.resolve(model_id)
        started = time.monotonic()
        cacheable = cache and self.cache is not None and params.get("temperature") == 0
        key = ResponseCache.key(first_id, messages, tools, params) if cacheable else ""
        if cacheable and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                chunks, route = hit
                for chunk in chunks:
                    yield chunk
                cached = Route(route.provider, route.model, route.skipped, cached=True)
                await self._record(
                    conversation_id, user_id, user, cached, started, None, chunks, None, cached=True
                )
                yield cached
                return
        candidates = [first_id] + [m for m in self.fallback if m != first_id]
        skipped: list[tuple[str, str]] = []
        last_error: ProviderError | None = None
        for candidate in candidates:
            try:
                provider, model, canonical = self.resolve(candidate)
            except ProviderError as exc:
                skipped.append((candidate, exc.message))
                continue
            await provider.load()  # its SDK imported off the event loop, the first time
            for attempt in range(self.retries + 1):
                chunks: list[Chunk] = []
                first_token: float | None = None
                try:
                    async for chunk in provider.chat(
                        model,
                        messages,
                        tools=tools,
                        stream=stream,
                        request_timeout=self.request_timeout,
                        **params,
                    ):
                        if first_token is None and isinstance(chunk, TextDelta | ToolCall):
                            first_token = time.monotonic()
                        chunks.append(chunk)
                        yield chunk
                except ProviderError as exc:
                    last_error = exc
                    if chunks or not exc.retryable:  # started, or not the service's fault
                        await self._record(
                            conversation_id,
                            user_id,
                            user,
                            Route(provider.name, model),
                            started,
                            first_token,
                            chunks,
                            exc,
                            fell_back_from=_origin(skipped),
                        )
                        raise
                    pause = self._pause(attempt, exc)
                    if attempt < self.retries and pause is not None:
                        await self.sleep(pause)
                        continue
                    skipped.append((canonical, f"{exc.kind}: {exc.message}"))
                    break
                route = Route(provider.name, model, tuple(skipped))
                await self._record(
                    conversation_id,
                    user_id,
                    user,
                    route,
                    started,
                    first_token,
                    chunks,
                    None,
                    fell_back_from=_origin(skipped),
                )
                if cacheable and self.cache is not None:
                    self.cache.put(key, chunks, route)
                yield route
                return
        error = last_error or ProviderError("unavailable", "router", "no provider could answer")
        why = "; ".join(f"{m} ({reason})" for m, reason in skipped)
        final = ProviderError(
            error.kind,
            error.provider,
            f"every provider failed: {why}",
            retry_after=error.retry_after,
            status=error.status,
        )
        await self._record(
            conversation_id,
            user_id,
            user,
            Route(error.provider, first_id.partition(":")[2]),
            started,
            None,
            [],
            final,
            fell_back_from=_origin(skipped),
        )
        raise final

    def _pause(self, attempt: int, exc: ProviderError) -> float | None:
        """Seconds before the next attempt; None to move on to the next provider."""
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= MAX_RETRY_AFTER else None
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    async def _record(
        self,
        conversation_id: int | None,
        user_id: int | None,
        user: str,
        route: Route,
        started: float,
        first_token: float | None,
        chunks: list[Chunk],
        error: ProviderError | None,
        *,
        cached: bool = False,
        fell_back_from: str | None = None,
    ) -> None:
        usage = next((c for c in reversed(chunks) if isinstance(c, Usage)), None)
        now = time.monotonic()
        metrics.ai_call(
            route.provider,
            error.kind if error else ("cached" if cached else "ok"),
            now - started,
            usage.input_tokens if usage and not cached else None,
            usage.output_tokens if usage and not cached else None,
        )
        if self.recorder is None:
            return
        record = CallRecord(
            user=user,
            provider=route.provider,
            model=route.model,
            status="error" if error else "ok",
            latency_ms=(now - started) * 1000,
            first_token_ms=(first_token - started) * 1000 if first_token else None,
            tokens_in=usage.input_tokens if usage else None,
            tokens_out=usage.output_tokens if usage else None,
            error_kind=error.kind if error else None,
            cached=cached,
            fell_back_from=fell_back_from,
            user_id=user_id,
            conversation_id=conversation_id,
        )
        await self.recorder(record)


def _origin(skipped: list[tuple[str, str]]) -> str | None:
    """The provider the call fell back from (the first one skipped)."""
    return skipped[0][0].partition(":")[0] if skipped else None
