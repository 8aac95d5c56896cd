"""REST handlers of the AI layer: providers, completions (streamed), analytics, prompt
templates."""

from __future__ import annotations

import json

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..ai.prompts import NAME
from ..ai.schemas import (
    AnalyticsOut,
    CompleteIn,
    PromptIn,
    PromptList,
    PromptOut,
    PromptUpdate,
    ProviderList,
    RenderIn,
    RenderOut,
)
from ..errors import NotFound
from .base import ApiHandler, operation
from .query import integer


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
    rate_class = "ai"

    @operation(
        "A completion through the router, as JSON lines (application/x-ndjson): text, "
        "tool_call and usage events, then done (provider, model, cached, skipped) or error. "
        "429 with Retry-After past the caller's rate limit; 502/504 when no provider could "
        "answer; 503 when none is configured; 404 for an unknown prompt template.",
        body=CompleteIn,
        response=None,
        media="application/x-ndjson",
        errors=(400, 404, 429, 502, 503, 504),
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
        query={"days": integer("Days back, today included (default 7).", 1, 365, default=7)},
    )
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        days = self.query_arg("days")
        self.reply(await self.services.ai.analytics(await self.actor(), days))


def template_name(raw: str) -> str:
    """A template name from the URL; anything that cannot be one names nothing (404)."""
    if not NAME.match(raw):
        raise NotFound(f"prompt template {raw!r} not found")
    return raw


class AIPromptsHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:ai"

    @operation(
        "Prompt templates the caller can use: the built-ins (generate_code, explain_error, "
        "fix_error, describe_dataset) and the caller's own, which override built-ins of the "
        "same name.",
        response=PromptList,
    )
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(PromptList(items=await self.services.prompts.list(await self.actor())))

    @operation(
        "Create a template of the caller's (Jinja2, sandboxed; it may use only the variables "
        "it declares). Naming it like a built-in overrides the built-in for the caller.",
        body=PromptIn,
        response=PromptOut,
        status=201,
        errors=(400, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body(PromptIn)
        self.reply(await self.services.prompts.create(await self.actor(), data), 201)


class AIPromptHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:ai"

    @operation("One template: the caller's own, else the built-in.", response=PromptOut)
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        actor = await self.actor()
        self.reply(await self.services.prompts.get(actor, template_name(name)))

    @operation(
        "Change one of the caller's templates (built-ins are overridden with POST instead).",
        body=PromptUpdate,
        response=PromptOut,
        errors=(400, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        data = self.body(PromptUpdate)
        actor = await self.actor()
        self.reply(await self.services.prompts.update(actor, template_name(name), data))

    @operation(
        "Delete one of the caller's templates; an override's built-in applies again.",
        response=None,
        status=204,
        errors=(400, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.services.prompts.delete(await self.actor(), template_name(name))
        self.no_content()


class AIPromptRenderHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:ai"

    @operation(
        "Fill a template in with values for its declared variables: the system message, the "
        "prompt and the messages a completion would send.",
        body=RenderIn,
        response=RenderOut,
        errors=(400, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        data = self.body(RenderIn)
        actor = await self.actor()
        out = await self.services.prompts.render(actor, template_name(name), data.variables)
        self.reply(out)
