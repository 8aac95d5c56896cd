"""Prometheus metrics of the extension, served on Jupyter Server's own ``/metrics``.

Jupyter Server serves prometheus_client's default registry there, so the metric objects
are created once, at import, in that registry (a second server in the same process, as
in the tests, shares them). Recording is a counter increment or a histogram observation
at the seam where the thing happens; gauges of live state (queue depth, kernels) are
computed at scrape time from the objects that hold that state, so they cost nothing on
the hot path and cannot drift.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# Seconds: a block run, an AI call, an upload.
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
AI_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
UPLOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

RUNS = Counter("ai_notebook_runs", "Block runs ended, by final status.", ["status"])
RUN_DURATION = Histogram(
    "ai_notebook_run_duration_seconds",
    "Time block runs spent executing (started to ended).",
    buckets=RUN_BUCKETS,
)
PIPELINES = Counter("ai_notebook_pipelines", "Pipeline runs ended, by final status.", ["status"])
PIPELINE_BLOCKS = Counter(
    "ai_notebook_pipeline_blocks",
    "Blocks of ended pipeline runs, by their result (succeeded, failed, skipped, ...).",
    ["status"],
)
QUEUE_DEPTH = Gauge(
    "ai_notebook_queue_depth", "Runs and jobs waiting in the project queues (not running)."
)
LIVE_KERNELS = Gauge("ai_notebook_kernels_live", "Project kernels started and not known dead.")
AI_CALLS = Counter(
    "ai_notebook_ai_calls",
    "AI calls, by the provider that answered (or failed) and status: ok, cached or the error kind.",
    ["provider", "status"],
)
AI_LATENCY = Histogram(
    "ai_notebook_ai_call_duration_seconds",
    "Duration of AI calls (retries and fallbacks included).",
    ["provider"],
    buckets=AI_BUCKETS,
)
AI_TOKENS = Counter(
    "ai_notebook_ai_tokens", "Tokens of AI calls, by provider and kind.", ["provider", "kind"]
)
AGENT_STEPS = Counter(
    "ai_notebook_agent_steps",
    "Agent steps: model calls (tool 'model', kind 'model') and tool calls (tool name, "
    "kind read/write/run/destructive; 'unknown'/'invalid' for a tool that does not exist).",
    ["tool", "kind"],
)
UPLOADS = Counter(
    "ai_notebook_uploads", "Dataset uploads, by outcome (ok, refused, aborted).", ["status"]
)
UPLOAD_BYTES = Counter("ai_notebook_upload_bytes", "Bytes received by dataset uploads.")
UPLOAD_DURATION = Histogram(
    "ai_notebook_upload_duration_seconds",
    "Duration of dataset upload requests (body and ingest).",
    buckets=UPLOAD_BUCKETS,
)
PROFILE_JOBS = Counter(
    "ai_notebook_profile_jobs", "Quick profile jobs run in the data workers.", ["status"]
)
REPORT_JOBS = Counter("ai_notebook_report_jobs", "Full dataset report jobs ended.", ["status"])
EVENTS = Counter(
    "ai_notebook_events_sent",
    "Events sent, by type and where to: 'members' counts frames to project sockets, "
    "'bus' events on Jupyter's event bus.",
    ["type", "to"],
)
RATE_LIMITED = Counter(
    "ai_notebook_rate_limited",
    "API requests refused with 429 by the per-user rate limits.",
    ["route_class"],
)

_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, cached: the hot paths skip prometheus_client's lock and
    label validation after the first time (its children are never removed here)."""
    key = (id(metric), labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found


_QUEUES: weakref.WeakSet[Any] = weakref.WeakSet()  # ProjectQueues of the live servers
_KERNELS: weakref.WeakSet[Any] = weakref.WeakSet()  # ProjectKernels of the live servers


def _total(objects: Iterable[Any], count: Callable[[Any], int]) -> int:
    return sum(count(o) for o in list(objects))


QUEUE_DEPTH.set_function(lambda: _total(_QUEUES, lambda q: q.depth()))
LIVE_KERNELS.set_function(lambda: _total(_KERNELS, lambda k: k.live_count()))


def watch_queues(queues: Any) -> None:
    """Count ``queues.depth()`` in the queue depth gauge while the object lives."""
    _QUEUES.add(queues)


def watch_kernels(kernels: Any) -> None:
    """Count ``kernels.live_count()`` in the live kernels gauge while the object lives."""
    _KERNELS.add(kernels)


def run_ended(status: str, started_at: datetime | None, finished_at: datetime | None) -> None:
    """A block run's end was recorded."""
    child(RUNS, status).inc()
    if started_at is not None and finished_at is not None:
        RUN_DURATION.observe(max(0.0, (finished_at - started_at).total_seconds()))


def pipeline_ended(status: str, results: Iterable[Any]) -> None:
    """A pipeline run ended; ``results`` are its per-block results (dicts)."""
    child(PIPELINES, status).inc()
    for result in results:
        child(PIPELINE_BLOCKS, str(result.get("status", "unknown"))).inc()


def ai_call(
    provider: str,
    status: str,
    seconds: float,
    tokens_in: int | None,
    tokens_out: int | None,
) -> None:
    """One AI call ended (ok, cached, or failed with ``status`` its error kind)."""
    provider = provider or "unknown"
    child(AI_CALLS, provider, status).inc()
    child(AI_LATENCY, provider).observe(max(0.0, seconds))
    if tokens_in:
        child(AI_TOKENS, provider, "prompt").inc(tokens_in)
    if tokens_out:
        child(AI_TOKENS, provider, "completion").inc(tokens_out)


def agent_step(tool: str, kind: str) -> None:
    child(AGENT_STEPS, tool, kind).inc()


def upload_finished(status: str, size: int, seconds: float) -> None:
    child(UPLOADS, status).inc()
    if size:
        UPLOAD_BYTES.inc(size)
    UPLOAD_DURATION.observe(max(0.0, seconds))


def event_sent(event_type: str, to: str, count: int = 1) -> None:
    if count:
        child(EVENTS, event_type, to).inc(count)
