"""The agent's events on Jupyter's event bus (the agent-step schema), whole only when
the bus is private to the project's users."""

from __future__ import annotations

import io
import json
import logging

import pytest
from jupyter_events import EventLogger

from ai_notebook_ext.events import AGENT_STEP, Events, bus_publisher


@pytest.mark.parametrize("private", [True, False])
def test_agent_steps_validate_and_carry_content_only_when_private(private):
    stream = io.StringIO()
    logger = EventLogger()
    logger.register_handler(logging.StreamHandler(stream))
    publish = bus_publisher(Events(logger), private)
    step = {"type": "text", "text": "hi", "step": 1, "conversation_id": 7, "turn": 2}
    publish(3, {"type": "agent-step", "event": step})
    publish(3, {**step, "type": "approval-required", "approval_id": 9})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["__schema__"] for e in lines] == [AGENT_STEP, AGENT_STEP]
    first, second = lines
    assert (first["project_id"], first["conversation_id"], first["turn"]) == (3, 7, 2)
    assert (first["kind"], first["step_type"]) == ("agent-step", "text")
    assert first["event"] == (step if private else None)
    assert second["kind"] == "approval-required"
    assert (second["event"] or {}).get("approval_id") == (9 if private else None)
