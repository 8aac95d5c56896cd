"""What flows through the AI layer: messages, tools, and the chunks of an answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: JSON-schema ``parameters``."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text, in order."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The model asks to call ``name`` with ``arguments`` (already parsed JSON).

    ``error`` says why the arguments could not be read (not JSON): the caller answers the
    call with that error so the model can correct itself."""

    id: str
    name: str
    arguments: dict[str, Any]
    error: str = ""


@dataclass(frozen=True)
class Usage:
    """Tokens the call consumed, when the provider says."""

    input_tokens: int | None = None
    output_tokens: int | None = None


Chunk = Union[TextDelta, ToolCall, Usage]  # noqa: UP007 - a runtime alias


def message(role: str, content: str, **extra: Any) -> dict[str, Any]:
    """A chat message in the OpenAI-style shape every provider accepts from us."""
    return {"role": role, "content": content, **extra}


def assistant_calls(content: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The model's turn that asked for tool calls, in our neutral shape: each call is
    ``{"id", "name", "arguments"}``; providers convert it to their wire format."""
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
    }


def tool_result(call_id: str, name: str, content: str) -> dict[str, Any]:
    """The answer to one tool call (``content`` is text, usually JSON)."""
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}
