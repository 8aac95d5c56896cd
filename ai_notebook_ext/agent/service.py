"""The agent's service: conversations (with role checks), turns started, followed,
cancelled and approved; the project context each turn starts from."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..ai.errors import ProviderError
from ..ai.service import api_error
from ..ai.types import message
from ..errors import ApiError, Conflict
from ..events.origin import set_client
from ..projects.access import caller_role
from ..projects.users import Actor
from . import context
from .approvals import Waiting
from .conversations import ConversationStore
from .loop import Limits, Publish, Turn
from .schemas import (
    ApprovalIn,
    ApprovalOut,
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    ConversationUpdate,
    MessageIn,
)
from .tools import TOOLS, ToolContext
from .tools.blocks import NoArgs, all_blocks, first_line
from .tools.kernel import kernel_variables

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..services import Services

log = logging.getLogger(__name__)
GUIDED = ("generate_code", "fix_error", "describe_dataset")  # templates that apply
VARIABLES_WAIT = 3.0  # seconds the system prompt waits for the kernel's variables
GUIDE_VALUES = {
    "generate_code": {"request": "-"},
    "fix_error": {"code": "-", "error": "-"},
    "describe_dataset": {"name": "-", "schema": "-"},
}


class AgentService:
    """Conversations and turns for the REST API and the command line."""

    def __init__(self, services: Services, publish: Publish, limits: Limits) -> None:
        self.services = services
        self.store = ConversationStore(services.db)
        self.publish = publish
        self.limits = limits
        self.waiting = Waiting()
        self.turns: dict[int, Turn] = {}  # conversation id -> the turn in progress

    # --- conversations ---------------------------------------------------------------

    async def create(
        self, actor: Actor, project_id: int, data: ConversationCreate
    ) -> ConversationOut:
        return await self.store.create(
            actor, project_id, data, self.services.ai.router.default_model
        )

    async def list(self, actor: Actor, project_id: int) -> list[ConversationOut]:
        return await self.store.list(actor, project_id)

    async def get(self, actor: Actor, project_id: int, cid: int) -> ConversationDetail:
        return await self.store.detail(actor, project_id, cid)

    async def update(
        self, actor: Actor, project_id: int, cid: int, data: ConversationUpdate
    ) -> ConversationOut:
        return await self.store.update(actor, project_id, cid, data)

    async def delete(self, actor: Actor, project_id: int, cid: int) -> None:
        await self.store.writable(actor, project_id, cid)
        turn = self.turns.get(cid)
        if turn is not None:
            turn.cancel()
            if turn.task is not None:
                await asyncio.wait({turn.task}, timeout=10)
        await self.store.delete(actor, project_id, cid)

    # --- turns -----------------------------------------------------------------------

    async def send(self, actor: Actor, project_id: int, cid: int, data: MessageIn) -> Turn:
        """Start a turn; it runs on its own (``Turn.follow()`` yields its events)."""
        conversation = await self.store.writable(actor, project_id, cid)
        if cid in self.turns:
            raise Conflict(
                f"conversation {cid} has a turn in progress; wait for it or cancel it",
                details={"state": conversation.state},
            )
        model = data.model or conversation.model
        try:
            self.services.ai.router.resolve(model or None)
        except ProviderError as exc:
            raise api_error(exc) from None
        self.turns[cid] = placeholder = _Placeholder()  # type: ignore[assignment]
        try:
            messages = await self._messages(actor, project_id, cid, data.content)
            number = await self.store.begin_turn(cid)
            await self.store.add(cid, turn=number, role="user", content=data.content)
        except BaseException:
            self.turns.pop(cid, None)
            raise
        if conversation.title == "":
            await self.store.set(cid, title=data.content.splitlines()[0][:80])
        turn = Turn(
            router=self.services.ai.router,
            store=self.store,
            waiting=self.waiting,
            publish=self.publish,
            ctx=ToolContext(
                self.services,
                actor,
                project_id,
                cid,
                text_limit=self.limits.tool_result_chars,
            ),
            conversation_id=cid,
            number=number,
            model=model,
            mode=conversation.mode,
            messages=messages,
            limits=self.limits,
        )
        assert self.turns.get(cid) is placeholder
        self.turns[cid] = turn
        turn.emit({"type": "turn", "mode": conversation.mode, "model": model})
        turn.task = asyncio.ensure_future(self._run(turn))
        return turn

    async def _run(self, turn: Turn) -> None:
        # The turn's changes are the agent's, not the echoes of the tab that asked: its
        # task (a copy of the request's context) drops the request's client id.
        set_client(None)
        try:
            await turn.run()
        finally:
            if self.turns.get(turn.conversation_id) is turn:
                del self.turns[turn.conversation_id]

    async def cancel(self, actor: Actor, project_id: int, cid: int) -> ConversationOut:
        await self.store.writable(actor, project_id, cid)
        turn = self.turns.get(cid)
        if turn is None or not isinstance(turn, Turn):
            raise Conflict(f"conversation {cid} has no turn in progress")
        turn.cancel("cancelled")
        if turn.task is not None:
            await asyncio.wait({turn.task}, timeout=30)
        return await self.store.get(actor, project_id, cid)

    async def decide(
        self, actor: Actor, project_id: int, aid: int, data: ApprovalIn
    ) -> ApprovalOut:
        approval = await self.store.approval(actor, project_id, aid)
        if approval.status != "pending" or not self.waiting.pending(aid):
            raise Conflict(
                f"approval {aid} is not pending (it is {approval.status})",
                details={"status": approval.status},
            )
        status = "approved" if data.approve else "denied"
        await self.store.decide(aid, status, actor.id)
        self.waiting.answer(aid, data.approve)
        return await self.store.approval(actor, project_id, aid)

    async def stop(self) -> None:
        """Server shutdown: turns in progress end interrupted."""
        await self._end_turns(lambda turn: True, "interrupted")

    async def project_deleted(self, project_id: int, working_dir: str) -> None:
        """A deleted project's turns stop: their tools would act on a project that is gone."""
        await self._end_turns(lambda turn: turn.ctx.project_id == project_id, "project_deleted")

    async def _end_turns(self, which: Callable[[Turn], bool], reason: str) -> None:
        turns = [t for t in self.turns.values() if isinstance(t, Turn) and which(t)]
        for turn in turns:
            turn.cancel(reason)
        tasks = {t.task for t in turns if t.task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    # --- context ---------------------------------------------------------------------

    async def _messages(
        self, actor: Actor, project_id: int, cid: int, prompt: str
    ) -> list[dict[str, Any]]:
        budget = self.limits.context_tokens
        view = await self.project_view(actor, project_id)
        system = context.system_prompt(view, budget)
        rows = await self.store.rows(cid)
        turns: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            turns.setdefault(row["turn"], []).append(row)
        history_budget = budget - context.estimate(system) - context.estimate(prompt) - 50
        wired = [context.wire(turns[n]) for n in sorted(turns)]
        past = context.history(wired, max(history_budget, budget // 4))
        return [message("system", system), *past, message("user", prompt)]

    async def project_view(self, actor: Actor, project_id: int) -> context.ProjectView:
        """What the system prompt says about the project, read as the user."""
        services = self.services
        async with services.db.session() as session:
            project, _ = await caller_role(session, actor, project_id)
            name = project.name
        blocks = await all_blocks(
            ToolContext(services, actor, project_id, 0)  # only the services and the actor
        )
        states: dict[int, str] = {}
        try:
            dag = await services.dag.get(actor, project_id)
            states = {n.block_id: n.state for n in dag.nodes}
        except ApiError:
            pass
        view = context.ProjectView(
            name=name,
            blocks=[
                {
                    "id": b.id,
                    "position": b.position,
                    "kind": b.kind,
                    "state": states.get(b.id, "") if b.kind == "code" else "",
                    "line": first_line(b.source),
                }
                for b in blocks
            ],
        )
        for d in await services.datasets.list(actor, project_id):
            cols = ", ".join(f"{c.name} {c.type}" for c in d.latest.columns) if d.latest else ""
            rows = d.latest.row_count if d.latest else None
            view.datasets.append(f"- {d.name} ({rows} rows): {cols[:400]}")
        view.variables = await self._variables(actor, project_id)
        failed = await services.runs.list(actor, project_id, 3, 0, status="failed", kind="block")
        for run in failed.items:
            err = run.error or {}
            what = f"{err.get('ename', '')}: {str(err.get('evalue', ''))[:200]}"
            view.errors.append(f"- block {run.block_id}: {what}")
        # The user's own generate_code / fix_error / describe_dataset templates say how
        # they want code written, errors fixed and data described (built-ins are covered
        # by the agent's instructions).
        for template in await services.prompts.list(actor):
            if template.name not in GUIDED or template.source != "user":
                continue
            try:
                rendered = await services.prompts.rendered(
                    actor, template.name, GUIDE_VALUES[template.name]
                )
            except ApiError:
                continue
            if rendered.system.strip():
                what = template.name.replace("_", " ")
                view.guidance.append(f"When you {what}, follow this: {rendered.system}")
        return view

    async def _variables(self, actor: Actor, project_id: int) -> list[str]:
        """The kernel's variables, when it is up and free now (a turn never waits for a
        busy kernel or starts one for this)."""
        runs = self.services.runs
        if runs.kernels.ready(project_id) is None or runs.queues.queued(project_id):
            return []
        ctx = ToolContext(self.services, actor, project_id, 0)
        try:
            outcome = await asyncio.wait_for(kernel_variables(ctx, NoArgs()), VARIABLES_WAIT)
        except (ApiError, TimeoutError):
            return []
        found = outcome.result.get("variables", []) if isinstance(outcome.result, dict) else []
        lines = []
        for v in found:
            shape = f" shape {v['shape']}" if "shape" in v else ""
            cols = ", ".join(f"{c} {t}" for c, t in list(v.get("dtypes", {}).items())[:20])
            lines.append(f"- {v['name']}: {v['type']}{shape}{f' ({cols})' if cols else ''}")
        return lines

    @staticmethod
    def tool_names() -> list[str]:
        return sorted(TOOLS)


class _Placeholder:
    """Holds a conversation's place while its turn is being set up."""

    task = None

    def cancel(self, reason: str = "") -> None:
        return None
