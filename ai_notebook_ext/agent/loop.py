"""One turn of the agent: model calls through the router, the tool calls it asks for (in
order, several per step), results fed back, until a final answer, the step limit, the
token budget, a cancel or an error.

Every event of the turn goes to the turn's followers (the request that started it, as
JSON lines) and to ``publish`` (the project's event stream). The turn runs in a task of
its own: a client that disconnects does not stop it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import metrics
from ..ai.errors import ProviderError
from ..ai.router import RateLimited, Route, Router
from ..ai.types import TextDelta, ToolCall, Usage, assistant_calls, tool_result
from ..errors import ApiError
from .approvals import Waiting, needs_approval
from .conversations import ConversationStore, dangling_calls
from .tools import TOOLS, Outcome, Tool, ToolContext, ToolInputError
from .tools.base import clip, failure

log = logging.getLogger(__name__)

Publish = Callable[[int, dict[str, Any]], None]

ENDINGS = {
    "step_limit": "Stopped: the step limit was reached before a final answer.",
    "token_budget": "Stopped: this turn used its token budget before a final answer.",
    "cancelled": "Stopped: the turn was cancelled.",
    "interrupted": "Stopped: the server is shutting down.",
    "project_deleted": "Stopped: the project was deleted.",
    "error": "Stopped by an error.",
}


@dataclass(frozen=True)
class Limits:
    """A turn's limits and sizes (the app's agent_* traits)."""

    max_steps: int = 20
    token_budget: int = 200_000
    context_tokens: int = 16_000
    tool_result_chars: int = 4_000
    stream: bool = True


@dataclass
class Turn:
    """A turn in progress; ``run()`` does it, ``follow()`` yields its events."""

    router: Router
    store: ConversationStore
    waiting: Waiting
    publish: Publish
    ctx: ToolContext
    conversation_id: int
    number: int
    model: str
    mode: str
    messages: list[dict[str, Any]]  # system prompt, history and the user's prompt
    limits: Limits = field(default_factory=Limits)
    tools: dict[str, Tool] = field(default_factory=lambda: dict(TOOLS))
    events: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    stop_reason: str = ""
    task: asyncio.Task[None] | None = None
    step: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seen_ids: set[str] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _last_call: dict[str, Any] | None = None
    _answered: set[str] = field(default_factory=set)

    # --- events --------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        event = {**event, "conversation_id": self.conversation_id, "turn": self.number}
        self.events.append(event)
        self._wake.set()
        self._wake = asyncio.Event()
        try:
            self.publish(self.ctx.project_id, {"type": "agent-step", "event": event})
            if event["type"] == "approval_required":
                self.publish(self.ctx.project_id, {**event, "type": "approval-required"})
        except Exception:  # the stream's problem, never the turn's
            log.exception("ai_notebook_ext: publishing an agent event")

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        """Every event of the turn from its start, then the new ones until it ends."""
        seen = 0
        while True:
            while seen < len(self.events):
                seen += 1
                yield self.events[seen - 1]
            if self.finished:
                return
            await self._wake.wait()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the turn: a model call or a tool in progress is abandoned, a running block
        is interrupted."""
        if self.finished:
            return
        self.stop_reason = self.stop_reason or reason
        self.ctx.cancel.set()
        if self.task is not None:
            self.task.cancel()

    # --- the loop ------------------------------------------------------------------

    async def run(self) -> None:
        status = "error"
        try:
            status = await self._steps()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            status = self.stop_reason or "interrupted"
            await self._stop_runs()
        except Exception as exc:  # a bug must end the turn cleanly, not hang it
            log.exception("ai_notebook_ext: agent turn failed")
            self.emit({"type": "error", "kind": "internal", "message": str(exc)[:500]})
            status = "error"
        finally:
            try:
                await self._finish(status)
            except Exception:  # e.g. the conversation was deleted with its project
                log.exception("ai_notebook_ext: recording the end of an agent turn")
            finally:
                self.finished = True
                self._wake.set()

    async def _steps(self) -> str:
        specs = [t.spec() for t in self.tools.values()]
        while True:
            if self.ctx.cancel.is_set():
                return self.stop_reason or "cancelled"
            if self.step >= self.limits.max_steps:
                return "step_limit"
            if self.tokens_in + self.tokens_out >= self.limits.token_budget:
                return "token_budget"
            self.step += 1
            metrics.agent_step("model", "model")
            answer = await self._call_model(specs)
            if answer is None:
                return "error"
            text, calls, route, usage = answer
            calls = [self._unique(c) for c in calls]
            row = {
                "turn": self.number,
                "step": self.step,
                "role": "assistant",
                "content": text,
                "provider": route.provider if route else None,
                "model": route.model if route else None,
                "tokens_in": usage.input_tokens if usage else None,
                "tokens_out": usage.output_tokens if usage else None,
            }
            if calls:
                row["tool_calls"] = [
                    {"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls
                ]
            await self.store.add(self.conversation_id, **row)
            if not calls:
                return "answered"
            self._last_call = row
            self.messages.append(assistant_calls(text, calls))
            for call in calls:
                await self._tool(call)

    async def _call_model(
        self, specs: list[Any]
    ) -> tuple[str, list[ToolCall], Route | None, Usage | None] | None:
        parts: list[str] = []
        calls: list[ToolCall] = []
        route: Route | None = None
        usage: Usage | None = None
        try:
            async for chunk in self.router.chat(
                self.ctx.actor.username,
                self.model or None,
                self.messages,
                tools=specs,
                stream=self.limits.stream,
                cache=False,
                user_id=self.ctx.actor.id,
                conversation_id=self.conversation_id,
            ):
                if isinstance(chunk, TextDelta):
                    parts.append(chunk.text)
                    self.emit({"type": "text", "step": self.step, "text": chunk.text})
                elif isinstance(chunk, ToolCall):
                    calls.append(chunk)
                elif isinstance(chunk, Usage):
                    usage = chunk
                elif isinstance(chunk, Route):
                    route = chunk
        except ProviderError as exc:
            self.emit(
                {
                    "type": "error",
                    "kind": exc.kind,
                    "provider": exc.provider,
                    "message": exc.message,
                }
            )
            return None
        except RateLimited as exc:
            self.emit({"type": "error", "kind": "rate_limited", "message": str(exc)})
            return None
        self.tokens_in += (usage.input_tokens or 0) if usage else 0
        self.tokens_out += (usage.output_tokens or 0) if usage else 0
        self.emit(
            {
                "type": "usage",
                "step": self.step,
                "provider": route.provider if route else None,
                "model": route.model if route else None,
                "input_tokens": usage.input_tokens if usage else None,
                "output_tokens": usage.output_tokens if usage else None,
                "skipped": [{"model": m, "reason": r} for m, r in route.skipped] if route else [],
            }
        )
        return "".join(parts), calls, route, usage

    def _unique(self, call: ToolCall) -> ToolCall:
        """Calls keep the provider's id unless it is missing or was used before (Ollama
        numbers calls per answer)."""
        call_id = call.id
        if not call_id or call_id in self.seen_ids:
            call_id = f"s{self.number}_{self.step}_{len(self.seen_ids)}"
        self.seen_ids.add(call_id)
        return ToolCall(call_id, call.name, call.arguments, call.error)

    async def _tool(self, call: ToolCall) -> None:
        self.emit(
            {
                "type": "tool_call",
                "step": self.step,
                "id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
        started = time.monotonic()
        tool = self.tools.get(call.name)
        metrics.agent_step(*((call.name, tool.kind) if tool else ("unknown", "invalid")))
        outcome = await self._outcome(call)
        limit = self.limits.tool_result_chars
        text = clip(outcome.text(), limit)
        await self.store.add(
            self.conversation_id,
            turn=self.number,
            step=self.step,
            role="tool",
            content=text,
            tool_call_id=call.id,
            tool_name=call.name,
            arguments=call.arguments,
            is_error=outcome.is_error,
            change=outcome.change,
        )
        self._answered.add(call.id)
        self.messages.append(tool_result(call.id, call.name, text))
        shown = outcome.result if len(outcome.text()) <= limit else text
        self.emit(
            {
                "type": "tool_result",
                "step": self.step,
                "id": call.id,
                "name": call.name,
                "is_error": outcome.is_error,
                "result": shown,
                "change": outcome.change,
                "ms": round((time.monotonic() - started) * 1000, 1),
            }
        )

    async def _outcome(self, call: ToolCall) -> Outcome:
        """The call's result; every problem is an error result the model can correct."""
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return Outcome({"error": f"unknown tool {call.name!r}; tools: {known}"}, True)
        if call.error:
            return Outcome({"error": f"{call.error}; send the arguments as a JSON object"}, True)
        try:
            args = tool.parse(call.arguments)
        except ToolInputError as exc:
            return Outcome({"error": f"invalid arguments: {exc}"}, True)
        try:
            if needs_approval(self.mode, tool.kind):
                approved = await self._approval(tool, call, args)
                if not approved:
                    return Outcome({"error": "the user denied this action"}, True)
            return await tool.run(self.ctx, args)
        except ApiError as exc:
            return failure(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("ai_notebook_ext: agent tool %s failed", call.name)
            return Outcome({"error": f"the tool failed: {type(exc).__name__}: {exc}"}, True)

    async def _approval(self, tool: Tool, call: ToolCall, args: Any) -> bool:
        preview = await tool.preview(self.ctx, args) if tool.preview else {}
        approval, future = await self.store.add_approval(
            self.conversation_id,
            self.waiting,
            turn=self.number,
            step=self.step,
            tool_call_id=call.id,
            tool_name=call.name,
            arguments=call.arguments,
            preview=preview,
        )
        self.emit(
            {
                "type": "approval_required",
                "step": self.step,
                "approval_id": approval.id,
                "tool_call_id": call.id,
                "name": call.name,
                "kind": tool.kind,
                "arguments": call.arguments,
                "preview": preview,
            }
        )
        try:
            approved = await future
        finally:
            self.waiting.forget(approval.id)
        await self.store.set(self.conversation_id, state="running")
        self.emit({"type": "approval", "approval_id": approval.id, "approved": approved})
        return approved

    async def _stop_runs(self) -> None:
        services = self.ctx.services
        for run_id, kind in list(self.ctx.running.items()):
            try:
                if kind == "pipeline":
                    await services.pipelines.cancel(self.ctx.actor, self.ctx.project_id, run_id)
                else:
                    await services.runs.stop_run(self.ctx.project_id, run_id)
            except Exception:
                log.exception("ai_notebook_ext: stopping run %s of a cancelled turn", run_id)

    async def _finish(self, status: str) -> None:
        """Close the turn on record: unanswered calls get a result, an unfinished turn a
        note; the conversation is idle again. A deleted project's conversation is gone
        with it: there is nothing to record."""
        if status == "project_deleted":
            self._done(status)
            return
        if self._last_call is not None:
            rows = [{**self._last_call, "id": 0}] + [
                {"role": "tool", "tool_call_id": i, "id": 1} for i in self._answered
            ]
            for call in dangling_calls(rows):
                await self.store.add(
                    self.conversation_id,
                    turn=self.number,
                    step=self.step,
                    role="tool",
                    content=f"not run: the turn ended ({status})",
                    tool_call_id=call["id"],
                    tool_name=call["name"],
                    arguments=call["arguments"],
                    is_error=True,
                )
        if status != "answered":
            await self.store.add(
                self.conversation_id,
                turn=self.number,
                step=self.step,
                role="assistant",
                content=ENDINGS.get(status, status),
                status=status,
            )
        await self.store.end_turn(self.conversation_id, self.tokens_in, self.tokens_out)
        self._done(status)

    def _done(self, status: str) -> None:
        self.emit(
            {
                "type": "done",
                "status": status,
                "steps": self.step,
                "usage": {"input_tokens": self.tokens_in, "output_tokens": self.tokens_out},
            }
        )
