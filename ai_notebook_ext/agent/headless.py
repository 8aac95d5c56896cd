"""`jupyter ai-notebook agent PROJECT "task" [--model M] [--mode auto]`: one agent turn
from the command line, on the same services as the server (no server needed).

The answer streams on stdout; progress (tool calls, results, approvals) goes to stderr.
An approval the turn asks for is asked on the terminal, or denied when stdin is not one
(use --mode full to allow everything). Exit code 0 when the turn answered, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from traitlets import Int, Unicode

from ..cli import EXIT_FAILED, CliCommand, CliError, Session, _common_aliases, find_project


class AgentCommand(CliCommand):
    """jupyter ai-notebook agent PROJECT "task" [--model M] [--mode auto]"""

    name = "ai-notebook-agent"
    description = (
        "Ask the AI agent to do a task in a project (id or name), headless: it edits and "
        "runs blocks in a kernel of its own. Exit code 0 when it answered, 1 otherwise."
    )
    aliases = {  # type: ignore[assignment]
        **_common_aliases(),
        "model": "AgentCommand.model",
        "mode": "AgentCommand.mode",
        "conversation": "AgentCommand.conversation",
    }
    model = Unicode(help="provider:model or an alias (default: ai_default_model).").tag(config=True)
    mode = Unicode("auto", help="ask, auto (default) or full.").tag(config=True)
    conversation = Int(0, help="Continue this conversation instead of starting one.").tag(
        config=True
    )

    async def main(self) -> int:
        if len(self.extra_args) != 2:
            raise CliError('give a project (id or name) and a task: agent PROJECT "task"')
        ref, task = self.extra_args
        if self.mode not in ("ask", "auto", "full"):
            raise CliError(f"--mode: ask, auto or full, not {self.mode!r}")
        services = build_services(self)
        try:
            return await self._turn(services, ref, task)
        finally:
            await services.close()

    async def _turn(self, services: Any, ref: str, task: str) -> int:
        from ..agent.schemas import ApprovalIn, ConversationCreate, MessageIn
        from ..projects.users import actor_for

        async with services.db.session() as session:
            actor = await actor_for(session, self.user, self.user, is_admin=False)
        pid = await find_project(services.db, actor, ref)
        agent = services.agent
        cid = self.conversation
        if not cid:
            created = await agent.create(
                actor, pid, ConversationCreate(mode=self.mode, model=self.model or None)
            )
            cid = created.id
        turn = await agent.send(actor, pid, cid, MessageIn(content=task, model=self.model or None))
        status = "error"
        async for event in turn.follow():
            kind = event["type"]
            if kind == "text":
                sys.stdout.write(event["text"])
                sys.stdout.flush()
            elif kind == "tool_call":
                args = json.dumps(event["arguments"])[:200]
                _progress(f"[step {event['step']}] {event['name']} {args}")
            elif kind == "tool_result":
                _progress(f"    {'error: ' if event['is_error'] else 'ok '}{_short(event)}")
            elif kind == "approval_required":
                approve = await _ask(event)
                await agent.decide(actor, pid, event["approval_id"], ApprovalIn(approve=approve))
            elif kind == "error":
                _progress(f"error: {event['message']}")
            elif kind == "done":
                status = event["status"]
                usage = event["usage"]
                sys.stdout.write("\n")
                _progress(
                    f"{status} after {event['steps']} step(s), "
                    f"{usage['input_tokens']} + {usage['output_tokens']} tokens "
                    f"(conversation {cid})"
                )
        if self.json:
            detail = await agent.get(actor, pid, cid)
            print(json.dumps(detail.model_dump(mode="json"), indent=2))
        return 0 if status == "answered" else EXIT_FAILED


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _short(event: dict[str, Any]) -> str:
    result = event.get("result")
    if isinstance(result, dict):
        if "error" in result and event["is_error"]:
            return str(result["error"])[:200]
        if "status" in result:
            return f"{result['status']} {result.get('error', {}).get('ename', '')!s}".strip()
    return json.dumps(result, default=str)[:120]


async def _ask(event: dict[str, Any]) -> bool:
    preview = event.get("preview") or {}
    _progress(f"approval needed: {preview.get('action', event['name'])}")
    if preview.get("diff"):
        _progress(preview["diff"].rstrip())
    if not sys.stdin.isatty():
        _progress("    denied (stdin is not a terminal; use --mode full to allow everything)")
        return False
    answer = await asyncio.to_thread(input, "approve? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def build_services(command: CliCommand) -> Any:
    """The server's services for this process (kernels started by it)."""
    from .._version import __version__
    from ..app import AINotebookApp
    from ..datasets.storage import BlobStore
    from ..services import Services

    settings = AINotebookApp(config=command.config)
    session = Session(command)
    data_dir = Path(settings.data_dir)
    return Services.build(
        session.db,
        admin_users=frozenset(settings.admin_users),
        max_request_bytes=settings.max_request_bytes,
        version=__version__,
        runs=session.runs,
        ai=settings._ai_router(),
        store=BlobStore(settings.dataset_storage_url, dict(settings.dataset_storage_options)),
        storage_options=dict(settings.dataset_storage_options),
        staging_dir=str(data_dir / "staging-cli"),
        dataset_max_bytes=settings.dataset_max_bytes,
        root_dir=command.root_dir,
        agent_limits=settings.agent_limits(),
    )
