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
