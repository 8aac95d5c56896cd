"""Request and response models of the agent API (the OpenAPI schemas come from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ..projects.schemas import NAME_MAX, Input, Output, Text

Mode = Literal["ask", "auto", "full"]
ModelId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Text]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX), Text]
PROMPT_MAX = 100_000
Prompt = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PROMPT_MAX), Text
]

MODE_HELP = (
    "ask: every write and run waits for approval; auto: writes and runs go ahead, deletes "
    "and kernel restarts ask; full: nothing asks."
)


class ConversationCreate(Input):
    title: Title | None = None
    model: ModelId | None = Field(
        default=None, description="provider:model or an alias; default: the configured one."
    )
    mode: Mode = Field(default="ask", description=MODE_HELP)


class ConversationUpdate(Input):
    title: Title | None = None
    model: ModelId | None = None
    mode: Mode | None = Field(default=None, description=MODE_HELP)


class MessageIn(Input):
    content: Prompt
    model: ModelId | None = Field(default=None, description="This turn's model (else the chat's).")


class ApprovalIn(Input):
    approve: bool


class ConversationOut(Output):
    id: int
    project_id: int
    title: str
    model: str
    mode: Mode
    state: Literal["idle", "running", "waiting"] = Field(
        description="running: a turn is going on; waiting: it waits for an approval."
    )
    turns: int
    tokens_in: int
    tokens_out: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class ConversationList(Output):
    items: list[ConversationOut]


class MessageOut(Output):
    id: int
    turn: int
    step: int
    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: list[dict[str, Any]] | None = Field(
        description="An assistant message's tool calls: id, name, arguments."
    )
    tool_call_id: str | None
    tool_name: str | None
    arguments: dict[str, Any] | None
    is_error: bool
    change: dict[str, Any] | None = Field(
        description="What a tool changed (kind, block_id, before, after) so it can be undone."
    )
    status: str = Field(
        description="complete, or how a turn ended without an answer: step_limit, "
        "token_budget, cancelled, error, interrupted."
    )
    provider: str | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    created_at: datetime


class ApprovalOut(Output):
    id: int
    conversation_id: int
    turn: int
    step: int
    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]
    preview: dict[str, Any]
    status: Literal["pending", "approved", "denied", "expired"]
    created_at: datetime
    decided_at: datetime | None


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]
    approvals: list[ApprovalOut]
