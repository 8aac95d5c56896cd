"""The agent's events: every step to the project's members on their event stream (the
whole turn event), the global bus's agent-step summary without it on a shared server."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from jupyter_events import EventLogger

from ai_notebook_ext.events import AGENT_STEP, Events, Hub, agent_publisher


class Member:
    """A subscriber of the hub recording what it is sent."""

    username = "alice"
    display_name = "Alice"
    role = "editor"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def send(self, text: str) -> None:
        self.events.append(json.loads(text))

    def close(self, code: int, reason: str) -> None:
        pass


@pytest.mark.parametrize("shared", [False, True])
def test_agent_steps_reach_members_whole_and_the_bus_without_content_when_shared(shared):
    stream = io.StringIO()
    logger = EventLogger()
    logger.register_handler(logging.StreamHandler(stream))
    hub = Hub()
    member = Member()
    hub.join(3, member)
    publish = agent_publisher(Events(logger, hub, shared=shared))
    step = {"type": "text", "text": "hi", "step": 1, "conversation_id": 7, "turn": 2}
    publish(3, {"type": "agent-step", "event": step})
    publish(3, {**step, "type": "approval-required", "approval_id": 9})

    got = [e for e in member.events if e["type"] != "presence"]
    assert [e["type"] for e in got] == ["agent-step", "approval-required"]
    assert got[0]["event"] == step  # members get the whole step, shared server or not
    assert (got[0]["conversation_id"], got[0]["turn"], got[0]["step_type"]) == (7, 2, "text")
    assert got[1]["approval_id"] == 9

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["__schema__"] for e in lines] == [AGENT_STEP]  # approvals: members only
    (bus,) = lines
    assert (bus["project_id"], bus["conversation_id"], bus["step_type"]) == (3, 7, "text")
    assert bus["event"] == (None if shared else step)


def test_other_projects_members_get_nothing():
    hub = Hub()
    outsider = Member()
    hub.join(4, outsider)
    publish = agent_publisher(Events(None, hub, shared=True))
    publish(3, {"type": "agent-step", "event": {"type": "text", "text": "secret"}})
    assert [e for e in outsider.events if e["type"] != "presence"] == []
