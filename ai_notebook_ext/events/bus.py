"""What of an event may go on Jupyter's global event bus (``/api/events/subscribe``).

That bus reaches every user allowed to subscribe to it, not only a project's members. It
gets exactly the fields of the event's schema; on a shared server (``single_user`` off)
also no names: no dataset names, no column names (the failing quality rules keep their
kind only), and no free text that may quote data (report progress messages, the reasons
of failed or cancelled pipeline blocks). The project's members get everything through
the project hub.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).parent
BASE = "https://events.jupyter.org/ai_notebook_ext"
RUN_STATUS = f"{BASE}/run-status/v1"
RUN_OUTPUT = f"{BASE}/run-output/v1"
KERNEL_STATUS = f"{BASE}/kernel-status/v1"
PIPELINE_BLOCK = f"{BASE}/pipeline-block/v1"
DATASET_VERSION = f"{BASE}/dataset-version/v1"
DATASET_REPORT = f"{BASE}/dataset-report/v1"
AGENT_STEP = f"{BASE}/agent-step/v1"


def register_schemas(event_logger: Any) -> None:
    """Register our schemas on the server's EventLogger, once. At extension start, not
    when the services are built: a ``/api/events/subscribe`` listener hears only the
    schemas registered when it subscribed."""
    registry = getattr(event_logger, "schemas", None)  # the CLI's Progress has none
    known = set(registry.schema_ids) if registry is not None else set()
    for path in sorted(SCHEMA_DIR.glob("*.yaml")):
        if f"{BASE}/{path.stem}/v1" not in known:
            event_logger.register_event_schema(path)


def wire_type(schema_id: str) -> str:
    """``.../run-status/v1`` -> ``run-status``, the event's type on project sockets."""
    return schema_id.rsplit("/", 2)[-2]


@cache
def schema_fields(schema_id: str) -> frozenset[str]:
    """The properties the schema declares."""
    path = SCHEMA_DIR / f"{wire_type(schema_id)}.yaml"
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(schema.get("properties", {}))


def for_bus(schema_id: str, data: dict[str, Any], shared: bool) -> dict[str, Any]:
    """The part of ``data`` the global bus may carry."""
    fields = schema_fields(schema_id)
    out = {k: v for k, v in data.items() if k in fields}
    if not shared:
        return out
    if schema_id == DATASET_VERSION:
        out["name"] = ""
        out["quality_failed"] = [str(f).split(" ", 1)[0] for f in out.get("quality_failed", [])]
    elif schema_id == DATASET_REPORT:
        out.pop("message", None)
    elif schema_id == PIPELINE_BLOCK and out.get("status") in ("failed", "cancelled"):
        out.pop("reason", None)
    elif schema_id == AGENT_STEP:
        out["event"] = None  # prompts, code and outputs: the project's members only
    return out
