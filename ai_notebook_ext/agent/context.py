"""The model's context: a system prompt built from the project, and the conversation's
history, both within a token budget.

Tokens are estimated at four characters each (no tokenizer per provider). The system
prompt gets at most ``SYSTEM_SHARE`` of the budget: long block lists are cut with a note
saying how to see the rest. History keeps the latest turns intact; older turns are
dropped and summarised in one line each (the user's request), as far as that fits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..ai.types import assistant_calls, message, tool_result
from .tools.base import clip

SYSTEM_SHARE = 0.4
SUMMARY_SHARE = 0.1
OLD_TOOL_RESULT = 600  # characters of a tool result kept in turns before the latest

INSTRUCTIONS = """You are the AI agent of a data notebook project: ordered code blocks run \
in one Python kernel, with a dependency graph (DAG) between them and versioned datasets.
Act through the tools: read before you write, create or update blocks, run them, read the \
outputs and errors, fix what fails and run again. update_block and delete_block need the \
version you read. Datasets load in code with ain.load("name") (a pandas DataFrame) and \
save with ain.save(df, "name"). Keep each block small and focused. When the task is done, \
answer briefly with what you did and what you found."""


def estimate(text: str) -> int:
    """Tokens of ``text``, estimated (four characters a token)."""
    return len(text) // 4 + 1


def message_tokens(m: dict[str, Any]) -> int:
    extra = json.dumps(m["tool_calls"]) if m.get("tool_calls") else ""
    return estimate(str(m.get("content") or "") + extra) + 4


@dataclass
class ProjectView:
    """What the system prompt says about the project."""

    name: str
    blocks: list[dict[str, Any]] = field(default_factory=list)  # id, position, kind, line, state
    datasets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    guidance: list[str] = field(default_factory=list)  # the user's prompt templates' advice


def system_prompt(view: ProjectView, budget: int) -> str:
    """The system prompt within ``budget * SYSTEM_SHARE`` tokens."""
    limit = int(budget * SYSTEM_SHARE) * 4  # characters
    head = [INSTRUCTIONS, *view.guidance, f'\nProject "{view.name}".']
    tail: list[str] = []
    if view.datasets:
        tail += ["Datasets:", *view.datasets[:30]]
    if view.variables:
        tail += ["Kernel variables:", *view.variables[:40]]
    if view.errors:
        tail += ["Recent errors:", *view.errors[:3]]
    fixed = "\n".join(head + tail)
    if len(fixed) > limit // 2:
        fixed = clip(fixed, limit // 2)
    room = limit - len(fixed) - 200
    lines: list[str] = []
    used = 0
    for b in view.blocks:
        line = f"- [{b['id']}] #{b['position']} {b['kind']} {b['state']}: {b['line']}"
        if used + len(line) + 1 > room:
            left = len(view.blocks) - len(lines)
            lines.append(f"... {left} more blocks not shown (use list_blocks to see all)")
            break
        lines.append(line)
        used += len(line) + 1
    listing = [f"Blocks ({len(view.blocks)}; [id] #position kind state: first line):", *lines]
    if not view.blocks:
        listing = ["The project has no blocks yet."]
    return "\n".join([*head, *listing, *tail])


def wire(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored messages (dicts of AgentMessage columns) as messages for the model."""
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["role"] == "user":
            out.append(message("user", r["content"]))
        elif r["role"] == "assistant":
            text = r["content"] or ""
            if r["status"] != "complete":
                text = f"[this turn ended: {r['status']}] {text}".strip()
            if r.get("tool_calls"):
                out.append(
                    assistant_calls(
                        text,
                        [_Call(c["id"], c["name"], c["arguments"]) for c in r["tool_calls"]],
                    )
                )
            else:
                out.append(message("assistant", text))
        elif r["role"] == "tool":
            out.append(tool_result(r["tool_call_id"] or "", r["tool_name"] or "", r["content"]))
    return out


@dataclass(frozen=True)
class _Call:
    id: str
    name: str
    arguments: dict[str, Any]


def history(turns: list[list[dict[str, Any]]], budget: int) -> list[dict[str, Any]]:
    """Model messages of ``turns`` (each a list of wire messages, oldest first) within
    ``budget`` tokens: the latest turns whole, older ones summarised or dropped. Long tool
    results of all but the latest turn are shortened."""
    shaped = [list(t) for t in turns]
    for turn in shaped[:-1]:
        for i, m in enumerate(turn):
            if m["role"] == "tool" and len(m["content"]) > OLD_TOOL_RESULT:
                turn[i] = {**m, "content": clip(m["content"], OLD_TOOL_RESULT)}
    kept: list[list[dict[str, Any]]] = []
    used = 0
    summary_room = int(budget * SUMMARY_SHARE)
    for turn in reversed(shaped):
        cost = sum(message_tokens(m) for m in turn)
        if kept and used + cost > budget - summary_room:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    dropped = shaped[: len(shaped) - len(kept)]
    out: list[dict[str, Any]] = []
    if dropped:
        lines = [f"Earlier in this conversation ({len(dropped)} turns not shown), the user asked:"]
        room = summary_room * 4 - len(lines[0])
        for turn in reversed(dropped):
            asked = next((m["content"] for m in turn if m["role"] == "user"), "")
            line = f"- {asked[:150]}"
            if len(line) + 1 > room:
                break
            lines.insert(1, line)
            room -= len(line) + 1
        out.append(message("user", "\n".join(lines)))
        out.append(message("assistant", "Noted."))
    for turn in kept:
        out.extend(turn)
    return out
