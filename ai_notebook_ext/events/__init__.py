"""Versioned jupyter_events schemas of our events, and the emitter of them.

Each event goes to the project's members through the project hub (``hub.py``, the
project's sockets) and to Jupyter's global event bus (``/api/events/subscribe``), which
carries what ``bus.py`` allows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import metrics
from .bus import (
    AGENT_STEP,
    BASE,
    DATASET_REPORT,
    DATASET_VERSION,
    KERNEL_STATUS,
    PIPELINE_BLOCK,
    RUN_OUTPUT,
    RUN_STATUS,
    SCHEMA_DIR,
    for_bus,
    register_schemas,
    wire_type,
)
from .hub import Hub

__all__ = [
    "AGENT_STEP",
    "BASE",
    "DATASET_REPORT",
    "DATASET_VERSION",
    "KERNEL_STATUS",
    "PIPELINE_BLOCK",
    "RUN_OUTPUT",
    "RUN_STATUS",
    "SCHEMA_DIR",
    "Events",
    "Hub",
]

log = logging.getLogger(__name__)

# After these, block states may have changed in ways the event itself does not say
# (a new kernel makes everything stale; a new dataset version, the blocks that read it).
DAG_CHANGING = frozenset({KERNEL_STATUS, DATASET_VERSION})


class Events:
    """Emits our events to the project's members (hub) and on the server's EventLogger.

    ``shared``: the server has several users (``single_user`` off), so the global bus
    carries no names (see ``bus.for_bus``).
    """

    def __init__(self, event_logger: Any, hub: Hub | None = None, *, shared: bool = False) -> None:
        self.logger = event_logger
        self.hub = hub
        self.shared = shared
        if event_logger is not None:
            register_schemas(event_logger)

    def listening(self, project_id: int) -> bool:
        """Whether the project's members have it open."""
        return self.hub is not None and self.hub.listening(project_id)

    def emit(
        self,
        schema_id: str,
        data: dict[str, Any],
        *,
        members: dict[str, Any] | None = None,
        members_only: bool = False,
    ) -> None:
        """Emit ``data``; ``members``: fields that only the project's members get (added or
        replacing), ``members_only``: not on the global bus. An event that cannot be sent
        is logged, never fails the caller."""
        project_id = data.get("project_id")
        if self.hub is not None and isinstance(project_id, int):
            self.hub.publish(project_id, {"type": wire_type(schema_id), **data, **(members or {})})
            if schema_id in DAG_CHANGING:
                self.hub.publish(project_id, {"type": "dag-changed"})
        if self.logger is None or members_only:
            return
        try:
            self.logger.emit(schema_id=schema_id, data=for_bus(schema_id, data, self.shared))
            metrics.event_sent(wire_type(schema_id), "bus")
        except Exception:
            log.exception("ai_notebook_ext: could not emit %s", schema_id)


def agent_publisher(events: Events) -> Callable[[int, dict[str, Any]], None]:
    """``publish(project_id, event)`` of the agent: each step goes to the project's
    members as an ``agent-step`` event (the whole turn event in ``event``), and to the
    global bus without it on a shared server; an ``approval-required`` goes to the
    members only (the step that asks is already on the bus)."""

    def publish(project_id: int, event: dict[str, Any]) -> None:
        if event.get("type") != "agent-step":
            if events.hub is not None:
                events.hub.publish(project_id, event)
            return
        step = event.get("event") or {}
        events.emit(
            AGENT_STEP,
            {
                "project_id": project_id,
                "conversation_id": int(step.get("conversation_id") or 0),
                "turn": int(step.get("turn") or 0),
                "kind": "agent-step",
                "step_type": str(step.get("type", "")),
                "event": step,
            },
        )

    return publish
