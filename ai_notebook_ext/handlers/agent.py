"""REST handlers of the AI agent: conversations, messages (a turn, streamed as JSON
lines), approvals, cancel."""

from __future__ import annotations

import json

import tornado.web
from jupyter_server.auth.decorator import authorized
from tornado.iostream import StreamClosedError

from ..agent.schemas import (
    ApprovalIn,
    ApprovalOut,
    ConversationCreate,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    ConversationUpdate,
    MessageIn,
)
from ..errors import BadRequest
from .base import ApiHandler, operation

STREAM_HELP = (
    "The turn as JSON lines (application/x-ndjson), each with conversation_id and turn: "
    "turn (mode, model), text (step, text), tool_call (step, id, name, arguments), "
    "approval_required (approval_id, tool_call_id, name, kind, arguments, preview with a "
    "diff for block edits), approval (approval_id, approved), tool_result (id, name, "
    "is_error, result, change), usage (step, provider, model, input_tokens, "
    "output_tokens, skipped), error (kind, message), and last done (status: answered, "
    "step_limit, token_budget, cancelled, interrupted or error; steps; usage). The turn "
    "goes on if the client disconnects; the same events go out on the project's event "
    "stream. 409 while another turn of the conversation is in progress; 400/503 when the "
    "model cannot be used."
)


class AgentConversationsHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:agent"

    @operation(
        "The project's agent conversations, most recently active first (every member).",
        response=ConversationList,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        items = await self.services.agent.list(await self.actor(), pid)
        self.reply(ConversationList(items=items))

    @operation(
        "Start a conversation with the agent (any member; a viewer's agent can only read). "
        "mode: ask (default), auto or full.",
        body=ConversationCreate,
        response=ConversationOut,
        status=201,
        errors=(400, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(ConversationCreate)
        self.reply(await self.services.agent.create(await self.actor(), pid, data), 201)


class AgentConversationHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:agent"

    @operation(
        "A conversation with its messages (tool calls, results, the changes they made, the "
        "model and tokens of each answer) and approvals.",
        response=ConversationDetail,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, conversation_id: str) -> None:
        pid = self.path_id(project_id, "project")
        cid = self.path_id(conversation_id, "conversation")
        self.reply(await self.services.agent.get(await self.actor(), pid, cid))

    @operation(
        "Change a conversation's title, model or mode (its starter or a project owner).",
        body=ConversationUpdate,
        response=ConversationOut,
        errors=(400, 403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, project_id: str, conversation_id: str) -> None:
        pid = self.path_id(project_id, "project")
        cid = self.path_id(conversation_id, "conversation")
        data = self.body(ConversationUpdate)
        self.reply(await self.services.agent.update(await self.actor(), pid, cid, data))

    @operation(
        "Delete a conversation (a turn in progress is cancelled first).",
        response=None,
        status=204,
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, conversation_id: str) -> None:
        pid = self.path_id(project_id, "project")
        cid = self.path_id(conversation_id, "conversation")
        await self.services.agent.delete(await self.actor(), pid, cid)
        self.no_content()


class AgentMessagesHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:agent"
    rate_class = "ai"  # a message starts an agent turn

    @operation(
        STREAM_HELP,
        body=MessageIn,
        response=None,
        media="application/x-ndjson",
        errors=(400, 403, 404, 409, 503),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, conversation_id: str) -> None:
        pid = self.path_id(project_id, "project")
        cid = self.path_id(conversation_id, "conversation")
        data = self.body(MessageIn)
        turn = await self.services.agent.send(await self.actor(), pid, cid, data)
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("Cache-Control", "no-store")
        try:
            async for event in turn.follow():
                self.write(json.dumps(event) + "\n")
                await self.flush()
        except StreamClosedError:
            return  # the client left; the turn goes on
        self.finish()


class AgentCancelHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:agent"

    @operation(
        "Cancel the turn in progress: a model call or tool is abandoned, a running block "
        "is interrupted; the turn ends 'cancelled'. 409 when no turn is in progress.",
        response=ConversationOut,
        errors=(400, 403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, conversation_id: str) -> None:
        pid = self.path_id(project_id, "project")
        cid = self.path_id(conversation_id, "conversation")
        if self.request.body.strip() not in (b"", b"{}"):
            raise BadRequest("cancel takes no request body (or an empty object)")
        self.reply(await self.services.agent.cancel(await self.actor(), pid, cid))


class AgentApprovalHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:agent"

    @operation(
        "Approve or deny an action the agent waits for ({approve: true|false}); 409 if it "
        "is no longer pending.",
        body=ApprovalIn,
        response=ApprovalOut,
        errors=(400, 403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, approval_id: str) -> None:
        pid = self.path_id(project_id, "project")
        aid = self.path_id(approval_id, "approval")
        data = self.body(ApprovalIn)
        self.reply(await self.services.agent.decide(await self.actor(), pid, aid, data))
