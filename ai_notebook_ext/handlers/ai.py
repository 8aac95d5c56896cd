"""REST handlers of the AI layer: providers, completions (streamed), analytics."""

from __future__ import annotations

import json

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..ai.schemas import AnalyticsOut, CompleteIn, ProviderList
from .base import ApiHandler, operation


class AIProvidersHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:ai"

    @operation(
        "AI providers: configured or what to set, reachable, models (checked concurrently, "
        "cached 30 s).",
        response=ProviderList,
    )
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.actor()
        self.reply(ProviderList(items=await self.services.ai.providers()))


class AICompleteHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:ai"

    @operation(
        "A completion through the router, as JSON lines (application/x-ndjson): text, "
        "tool_call and usage events, then done (provider, model, cached, skipped) or error. "
        "429 with Retry-After past the caller's rate limit; 502/504 when no provider could "
        "answer; 503 when none is configured.",
        body=CompleteIn,
        response=None,
        errors=(400, 429, 502, 503, 504),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body(CompleteIn)
        events = self.services.ai.complete(await self.actor(), data)
        first = await anext(events, None)  # errors before any answer are HTTP errors
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("Cache-Control", "no-store")
        if first is not None:
            self.write(json.dumps(first) + "\n")
            await self.flush()
            async for event in events:
                self.write(json.dumps(event) + "\n")
                await self.flush()
        else:
            await self.flush()
        self.finish()


class AIAnalyticsHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:ai"

    @operation(
        "AI call analytics of the last ?days (default 7): p50/p95 latency, error rate and "
        "tokens, in total and by provider, model and day. Admins see every user's calls.",
        response=AnalyticsOut,
        query={"days": "1-365 (default 7)."},
    )
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        days = self.int_query("days", 7, 1, 365)
        self.reply(await self.services.ai.analytics(await self.actor(), days))
