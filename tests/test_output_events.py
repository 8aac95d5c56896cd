"""Output events of a running block: the first goes out at once, later ones are coalesced
to at most one per interval, and the last state always goes out when the run closes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from ai_notebook_ext.execution.progress import EVENT_INTERVAL, OutputEvents


class Recorder:
    """Stands in for Events: records what would be sent (the fan-out is tested elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def listening(self, project_id: int) -> bool:
        return True

    def emit(self, schema_id: str, data: dict[str, Any], **_: Any) -> None:
        self.sent.append(data)


def stream(text: str) -> SimpleNamespace:
    return SimpleNamespace(outputs=[{"output_type": "stream", "name": "stdout", "text": text}])


async def test_first_output_at_once_then_coalesced() -> None:
    events = Recorder()
    run = SimpleNamespace(project_id=1, id=2, block_id=3)
    out = OutputEvents(events, run)  # type: ignore[arg-type]
    await out.update(stream("a"))
    assert [e["outputs"][0]["text"] for e in events.sent] == ["a"]  # no waiting
    for text in ("ab", "abc", "abcd"):
        await out.update(stream(text))
    assert len(events.sent) == 1  # coalesced until the interval has passed
    await asyncio.sleep(EVENT_INTERVAL * 1.5)
    assert [e["outputs"][0]["text"] for e in events.sent] == ["a", "abcd"]
    await out.update(stream("abcde"))
    out.close()
    assert [e["seq"] for e in events.sent] == [1, 2, 3]
    assert events.sent[-1]["outputs"][0]["text"] == "abcde"
