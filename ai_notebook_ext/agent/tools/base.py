"""What a tool is, what it gets to act with, and what it answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ...ai.types import ToolSpec
from ...errors import ApiError
from ...projects.users import Actor

if TYPE_CHECKING:
    from ...services import Services

Kind = Literal["read", "write", "run", "destructive"]


class Params(BaseModel):
    """Base of tool arguments: unknown fields are errors the model can correct."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ToolContext:
    """What a tool acts with: the services, as the requesting user, in one project."""

    services: Services
    actor: Actor
    project_id: int
    conversation_id: int
    text_limit: int = 4000
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    running: dict[int, str] = field(default_factory=dict)  # run id -> kind, to stop


@dataclass
class Outcome:
    """A tool's answer: a JSON-able result, whether it is an error, and the change it
    made (so the UI can show and undo it)."""

    result: Any
    is_error: bool = False
    change: dict[str, Any] | None = None

    def text(self) -> str:
        return self.result if isinstance(self.result, str) else json.dumps(self.result)


Runner = Callable[[ToolContext, Any], Awaitable[Outcome]]
Previewer = Callable[[ToolContext, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    """One tool: its arguments model, its kind (for approvals) and its code."""

    name: str
    description: str
    params: type[Params]
    kind: Kind
    run: Runner
    preview: Previewer | None = None

    def spec(self) -> ToolSpec:
        schema = self.params.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("properties", {})
        return ToolSpec(self.name, self.description, schema)

    def parse(self, arguments: dict[str, Any]) -> Any:
        """The validated arguments; raises ToolInputError naming what is wrong."""
        try:
            return self.params.model_validate(arguments)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            ]
            raise ToolInputError("; ".join(problems)) from None


class ToolInputError(Exception):
    """The model's arguments do not fit the tool."""


def failure(exc: ApiError) -> Outcome:
    """A service's refusal (forbidden, not found, conflict) as an error the model reads."""
    details = {k: v for k, v in (exc.details or {}).items() if k != "current"}
    result: dict[str, Any] = {"error": exc.message, "status": exc.status}
    if details:
        result["details"] = details
    current = (exc.details or {}).get("current")
    if isinstance(current, dict) and "version" in current:
        result["current_version"] = current["version"]
    return Outcome(result, is_error=True)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much was left out."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[-(limit // 3) :]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters left out ...]\n{tail}"
