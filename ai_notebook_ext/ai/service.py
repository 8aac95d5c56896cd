"""The AI API's service: providers' state, completions through the router, analytics.

Provider health is checked concurrently and cached for HEALTH_TTL seconds, so listing
providers never blocks on a dead one for long. The check's timeout starts once the
provider's client library is imported (in a thread): a first import can take longer than
the whole timeout on a busy machine. Every call's analytics row is stored.
Callers see their own analytics; admins see everyone's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from ..errors import BadRequest, ServiceUnavailable, TooManyRequests, UpstreamError, UpstreamTimeout
from ..projects.users import Actor
from ..store import Database
from ..store.models import AICall
from ..store.types import utcnow
from .errors import ProviderError
from .router import CallRecord, RateLimited, Route, Router
from .schemas import AnalyticsOut, Breakdown, CompleteIn, ProviderOut, Summary
from .templates import PromptService
from .types import TextDelta, ToolCall, Usage

HEALTH_TTL = 30.0
HEALTH_TIMEOUT = 3.0


def api_error(exc: ProviderError) -> Exception:
    """A provider failure before any answer, as the HTTP error the client gets."""
    if exc.kind in ("bad_request", "content_filtered"):
        return BadRequest(str(exc), details={"kind": exc.kind, "provider": exc.provider})
    if exc.kind == "not_configured":
        return ServiceUnavailable(str(exc), details={"kind": exc.kind, "provider": exc.provider})
    if exc.kind == "timeout":
        return UpstreamTimeout(str(exc), details={"kind": exc.kind, "provider": exc.provider})
    return UpstreamError(str(exc), details={"kind": exc.kind, "provider": exc.provider})


class AIService:
    """Providers, completions and analytics for the REST API."""

    def __init__(self, db: Database, router: Router, prompts: PromptService) -> None:
        self.db = db
        self.router = router
        self.prompts = prompts
        router.recorder = self.record
        self._health: dict[str, tuple[float, ProviderOut]] = {}

    async def record(self, row: CallRecord) -> None:
        values = {
            "user_id": row.user_id,
            "provider": row.provider[:64],
            "model": row.model[:255],
            "status": row.status,
            "error_kind": row.error_kind,
            "latency_ms": row.latency_ms,
            "first_token_ms": row.first_token_ms,
            "tokens_in": row.tokens_in,
            "tokens_out": row.tokens_out,
            "cached": row.cached,
            "fell_back_from": row.fell_back_from,
            "conversation_id": row.conversation_id,
            "created_at": utcnow(),
        }
        async with self.db.connection() as conn:
            await conn.execute(insert(AICall.__table__), values)

    async def providers(self) -> list[ProviderOut]:
        names = sorted(self.router.providers)
        return list(await asyncio.gather(*(self._provider(n) for n in names)))

    async def _provider(self, name: str) -> ProviderOut:
        cached = self._health.get(name)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        provider = self.router.providers[name]
        hint = provider.configured()
        if hint:
            out = ProviderOut(name=name, configured=False, hint=hint, reachable=None)
        else:
            try:
                await provider.load()  # before the clock starts
                models = await asyncio.wait_for(
                    provider.list_models(request_timeout=HEALTH_TIMEOUT), HEALTH_TIMEOUT + 1
                )
                out = ProviderOut(
                    name=name, configured=True, hint="", reachable=True, models=models
                )
            except (ProviderError, TimeoutError) as exc:
                message = getattr(exc, "message", "") or "no answer in time"
                out = ProviderOut(
                    name=name, configured=True, hint="", reachable=False, error=message
                )
        self._health[name] = (time.monotonic() + HEALTH_TTL, out)
        return out

    async def complete(self, actor: Actor, data: CompleteIn) -> AsyncIterator[dict[str, Any]]:
        """The answer as events: text, tool_call, usage, then done (or error). Failures
        before the first event raise the HTTP error instead."""
        params: dict[str, Any] = {}
        if data.temperature is not None:
            params["temperature"] = data.temperature
        if data.max_tokens is not None:
            params["max_tokens"] = data.max_tokens
        if data.template is not None:
            use = data.template
            messages = (await self.prompts.rendered(actor, use.name, use.variables)).messages()
        else:
            messages = [m.model_dump() for m in data.messages or []]
        stream = self.router.chat(
            actor.username,
            data.model,
            messages,
            stream=data.stream,
            cache=data.cache,
            user_id=actor.id,
            **params,
        )
        started = False
        try:
            async for chunk in stream:
                started = True
                yield _event(chunk)
        except RateLimited as exc:
            raise TooManyRequests(str(exc), retry_after=exc.retry_after) from None
        except ProviderError as exc:
            if not started:
                raise api_error(exc) from None
            yield {
                "type": "error",
                "kind": exc.kind,
                "provider": exc.provider,
                "message": exc.message,
            }

    async def analytics(self, actor: Actor, days: int) -> AnalyticsOut:
        since = utcnow() - timedelta(days=days)
        query = select(AICall).where(AICall.created_at >= since)
        if not actor.is_admin:
            query = query.where(AICall.user_id == actor.id)
        async with self.db.session() as session:
            rows = list(await session.scalars(query))
        groups: dict[tuple[str, str, str], list[AICall]] = defaultdict(list)
        for row in rows:
            groups[(row.provider, row.model, row.created_at.date().isoformat())].append(row)
        breakdown = [
            Breakdown(provider=p, model=m, day=d, **_summary(items).model_dump())
            for (p, m, d), items in sorted(groups.items())
        ]
        return AnalyticsOut(total=_summary(rows), by_provider_model_day=breakdown)


def _summary(rows: list[AICall]) -> Summary:
    latencies = sorted(r.latency_ms for r in rows)
    errors = sum(1 for r in rows if r.status != "ok")

    def cut(q: int) -> float | None:
        if not latencies:
            return None
        if len(latencies) == 1:
            return round(latencies[0], 3)
        return round(statistics.quantiles(latencies, n=100, method="inclusive")[q - 1], 3)

    return Summary(
        calls=len(rows),
        errors=errors,
        error_rate=round(errors / len(rows), 4) if rows else 0.0,
        p50_ms=cut(50),
        p95_ms=cut(95),
        tokens_in=sum(r.tokens_in or 0 for r in rows),
        tokens_out=sum(r.tokens_out or 0 for r in rows),
    )


def _event(chunk: Any) -> dict[str, Any]:
    if isinstance(chunk, TextDelta):
        return {"type": "text", "text": chunk.text}
    if isinstance(chunk, ToolCall):
        return {
            "type": "tool_call",
            "id": chunk.id,
            "name": chunk.name,
            "arguments": chunk.arguments,
        }
    if isinstance(chunk, Usage):
        return {
            "type": "usage",
            "input_tokens": chunk.input_tokens,
            "output_tokens": chunk.output_tokens,
        }
    assert isinstance(chunk, Route)
    return {
        "type": "done",
        "provider": chunk.provider,
        "model": chunk.model,
        "cached": chunk.cached,
        "skipped": [{"model": m, "reason": why} for m, why in chunk.skipped],
    }
