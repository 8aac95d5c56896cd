"""The AI agent's own cost per step: everything but the model and the kernel.

An in-process agent (the server's services on a SQLite file) runs turns against a model
that answers at once (a Provider yielding prepared chunks: no network, no tokens), each
step asking for one read tool (read_block of a 40-block project), so no kernel runs.

- agent step: the time between consecutive tool results of a turn, stamped when each is
  emitted (model call through
  the router, tool call parsed and validated, the service call, two messages stored,
  events to followers and the publisher).
- baseline step: the same router call and the same service call (BlockService.get)
  made directly, with nothing of the agent, in the same run, alternating turns.
- overhead = agent step - baseline step (p50 of each).
- first token: from the provider yielding a text chunk to a follower of the turn getting
  the text event (what the REST handler writes to the client).

    .venv/bin/python benchmarks/agent_overhead.py [--turns 40 --steps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ai_notebook_ext.agent.loop import Limits  # noqa: E402
from ai_notebook_ext.agent.schemas import ConversationCreate, MessageIn  # noqa: E402
from ai_notebook_ext.ai.providers.base import Provider  # noqa: E402
from ai_notebook_ext.ai.router import Router  # noqa: E402
from ai_notebook_ext.ai.types import Chunk, TextDelta, ToolCall, Usage, message  # noqa: E402

STAMPS: list[float] = []  # when the provider yielded each first text chunk


class Instant(Provider):
    """A model that answers at once: ``plan`` is a list of answers (tool calls or text)."""

    name = "instant"

    def __init__(self) -> None:
        self.plan: list[Any] = []

    def configured(self) -> str:
        return ""

    async def chat(
        self, model: str, messages: list[dict[str, Any]], **kw: Any
    ) -> AsyncIterator[Chunk]:  # type: ignore[override]
        answer = self.plan.pop(0)
        await asyncio.sleep(0)  # a network read would let other tasks run here
        if isinstance(answer, str):
            STAMPS.append(time.perf_counter())
            yield TextDelta(answer)
        else:
            yield answer
        await asyncio.sleep(0)
        yield Usage(10, 5)

    async def list_models(self, request_timeout: float = 10.0) -> list[str]:
        return ["m"]


class Stamper:
    """The agent's publisher here: when each event of the turn was emitted."""

    def __init__(self, into: list[tuple[float, str]]) -> None:
        self.into = into

    def __call__(self, project_id: int, event: dict[str, Any]) -> None:
        kind = event["event"]["type"] if "event" in event else ""
        self.into.append((time.perf_counter(), kind))


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


async def build(tmp: Path) -> Any:
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    from ai_notebook_ext.cli import Host
    from ai_notebook_ext.datasets.storage import BlobStore
    from ai_notebook_ext.events import Events
    from ai_notebook_ext.execution.service import RunService
    from ai_notebook_ext.services import Services
    from ai_notebook_ext.store import Database

    db = Database(f"sqlite:///{tmp / 'bench.db'}")
    db.migrate()
    host = Host(kernel_manager=AsyncMappingKernelManager(), root_dir=str(tmp))
    runs = RunService(
        db,
        host,
        Events(None),
        kernel_name="python3",
        artifact_dir=tmp / "artifacts",
        text_limit=100_000,
        default_timeout=None,
    )
    provider = Instant()
    router = Router({"instant": provider}, default_model="instant:m")
    services = Services.build(
        db,
        admin_users=frozenset(),
        max_request_bytes=1 << 20,
        version="bench",
        runs=runs,
        ai=router,
        store=BlobStore(str(tmp / "blobs"), {}),
        storage_options={},
        staging_dir=str(tmp / "staging"),
        dataset_max_bytes=1 << 30,
        root_dir=str(tmp),
        agent_limits=Limits(max_steps=1000),
        publish=lambda pid, event: None,
    )
    return services, provider, router


async def main(turns: int, steps: int) -> None:
    from ai_notebook_ext.projects.schemas import BlockBulkCreate, BlockSpec, ProjectCreate
    from ai_notebook_ext.projects.users import actor_for

    with tempfile.TemporaryDirectory() as name:
        services, provider, router = await build(Path(name))
        async with services.db.session() as session:
            actor = await actor_for(session, "bench", "bench", is_admin=False)
        project = await services.projects.create(actor, ProjectCreate(name="bench"))
        specs = [BlockSpec(source=f"x{i} = {i}\nprint(x{i})") for i in range(40)]
        blocks = await services.blocks.create_many(actor, project.id, BlockBulkCreate(blocks=specs))
        target = blocks[20].id
        agent_steps: list[float] = []
        base_steps: list[float] = []
        first_token: list[float] = []
        for n in range(turns):
            # agent
            conv = await services.agent.create(actor, project.id, ConversationCreate(mode="full"))
            provider.plan = [
                ToolCall(f"c{i}", "read_block", {"block_id": target}) for i in range(steps)
            ] + ["done"]
            emitted: list[tuple[float, str]] = []
            services.agent.publish = Stamper(emitted)
            turn = await services.agent.send(actor, project.id, conv.id, MessageIn(content="go"))
            async for event in turn.follow():
                if event["type"] == "text":
                    first_token.append(time.perf_counter() - STAMPS[-1])
            results = [t for t, kind in emitted if kind == "tool_result"]
            agent_steps += [b - a for a, b in itertools.pairwise(results)]
            # baseline: the same model calls and service calls, without the agent
            provider.plan = [
                ToolCall(f"c{i}", "read_block", {"block_id": target}) for i in range(steps)
            ]
            messages = [message("user", "go")]
            last = None
            for _ in range(steps):
                async for _chunk in router.chat("bench", None, messages, cache=False):
                    pass
                await services.blocks.get(actor, project.id, target)
                now = time.perf_counter()
                if last is not None:
                    base_steps.append(now - last)
                last = now
            if n == 0:  # warm-up turn
                agent_steps.clear()
                base_steps.clear()
                first_token.clear()
        await services.close()
    a50, a95 = pct(agent_steps, 50), pct(agent_steps, 95)
    b50, b95 = pct(base_steps, 50), pct(base_steps, 95)
    f50 = pct(first_token, 50)
    print(f"agent step     p50 {a50:7.3f} ms  p95 {a95:7.3f} ms  ({len(agent_steps)} steps)")
    print(f"baseline step  p50 {b50:7.3f} ms  p95 {b95:7.3f} ms  ({len(base_steps)} steps)")
    print(f"overhead       p50 {a50 - b50:7.3f} ms  (agent / baseline {a50 / b50:.2f}x)")
    print(f"first token    p50 {f50:7.3f} ms  (provider chunk -> turn follower)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.steps))
