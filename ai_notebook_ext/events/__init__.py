"""Versioned jupyter_events schemas of our events, and a small emitter around them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).parent
BASE = "https://events.jupyter.org/ai_notebook_ext"
RUN_STATUS = f"{BASE}/run-status/v1"
RUN_OUTPUT = f"{BASE}/run-output/v1"
KERNEL_STATUS = f"{BASE}/kernel-status/v1"
PIPELINE_BLOCK = f"{BASE}/pipeline-block/v1"
DATASET_VERSION = f"{BASE}/dataset-version/v1"
DATASET_REPORT = f"{BASE}/dataset-report/v1"
AGENT_STEP = f"{BASE}/agent-step/v1"


class Events:
    """Emits our events on the server's EventLogger (``/api/events/subscribe``)."""

    def __init__(self, event_logger: Any) -> None:
        self.logger = event_logger
        if event_logger is not None:
            for path in sorted(SCHEMA_DIR.glob("*.yaml")):
                event_logger.register_event_schema(path)

    def emit(self, schema_id: str, data: dict[str, Any]) -> None:
        """Emit; an event that cannot be sent is logged, never fails the caller."""
        if self.logger is None:
            return
        try:
            self.logger.emit(schema_id=schema_id, data=data)
        except Exception:
            log.exception("ai_notebook_ext: could not emit %s", schema_id)


def bus_publisher(events: Events, private: bool) -> Any:
    """``publish(project_id, event)`` of the agent on Jupyter's event bus (agent-step
    schema); the whole event only when ``private`` (the bus reaches only the project's
    users). The per-project event stream replaces this at merge time."""

    def publish(project_id: int, event: dict[str, Any]) -> None:
        step = event.get("event") if event.get("type") == "agent-step" else event
        step = step or {}
        events.emit(
            AGENT_STEP,
            {
                "project_id": project_id,
                "conversation_id": int(step.get("conversation_id") or 0),
                "turn": int(step.get("turn") or 0),
                "kind": str(event.get("type", "")),
                "step_type": str(step.get("type", "")),
                "event": step if private else None,
            },
        )

    return publish
