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
    """The model asks to call ``name`` with ``arguments`` (already parsed JSON)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens the call consumed, when the provider says."""

    input_tokens: int | None = None
    output_tokens: int | None = None


Chunk = Union[TextDelta, ToolCall, Usage]  # noqa: UP007 - a runtime alias


def message(role: str, content: str, **extra: Any) -> dict[str, Any]:
    """A chat message in the OpenAI-style shape every provider accepts from us."""
    return {"role": role, "content": content, **extra}
