"""A block's state as the workspace shows it, and why a stale block is stale (pure).

The DAG's states (``dag/state.py``: never-run, fresh, stale, running, failed) are refined
with what the runs and pipelines say: ``queued`` (its newest run waits, or a running
pipeline has yet to run it) and ``skipped`` (the newest pipeline that planned it skipped
it, and it has not run since). Markdown blocks have no state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..dag.analysis import code_hash
from ..dag.graph import Graph
from ..dag.state import RunFacts

WorkspaceState = str  # fresh|stale|never-run|queued|running|failed|skipped


@dataclass(frozen=True)
class PipelineMark:
    """What the newest pipeline that planned a block says about it."""

    pipeline_id: int
    pipeline_status: str
    status: str  # the block's result: pending, running, succeeded, failed, skipped...
    reason: str


def pipeline_marks(pipelines: list[Any]) -> dict[int, PipelineMark]:
    """Per block, the mark of the newest of ``pipelines`` (rows with id, status, results;
    newest first) that planned it."""
    marks: dict[int, PipelineMark] = {}
    for run in pipelines:
        for result in run.results or ():
            block = result.get("block_id")
            if isinstance(block, int) and block not in marks:
                marks[block] = PipelineMark(
                    run.id, run.status, str(result.get("status")), str(result.get("reason", ""))
                )
    return marks


def block_state(
    dag_state: str,
    fact: RunFacts,
    newest_run: int | None,
    mark: PipelineMark | None,
) -> WorkspaceState:
    """The state of a code block (``newest_run``: the id of its newest run)."""
    if fact.last_status == "queued":
        return "queued"
    if dag_state == "running":
        return "running"
    if mark is not None and (newest_run is None or newest_run < mark.pipeline_id):
        if mark.status == "skipped":
            return "skipped"
        if mark.status in ("pending", "running") and mark.pipeline_status == "running":
            return "queued"
    return dag_state


def _upstream(graph: Graph, block: int, parents: list[int]) -> str:
    names = {(e.source, e.target): e.names for e in graph.edges if e.target == block}
    parts = []
    for parent in parents:
        why = ", ".join(names.get((parent, block), ())) or "explicit edge"
        parts.append(f"block {parent} ({why})")
    return "; ".join(parts)


def stale_reason(
    graph: Graph,
    block: int,
    states: Mapping[int, str],
    fact: RunFacts,
    last_source: str | None,
    kernel_live: bool,
) -> str:
    """Why a stale block is stale, naming the upstream blocks and the names that link
    them. ``last_source``: the code of its last successful run, if that is its last run."""
    if not kernel_live:
        return "no kernel is running: the results of its last run are gone"
    if fact.fresh_fingerprint is None:
        return "it has not run successfully since the kernel (re)started"
    if fact.outdated_reads:
        return "a dataset it read has a newer version"
    parents = sorted(graph.parents(block), key=graph.order.index)
    not_fresh = [p for p in parents if states.get(p) != "fresh"]
    if not_fresh:
        return "upstream is not fresh: " + _upstream(graph, block, not_fresh)
    source = graph.sources[block]
    if last_source is not None and code_hash(last_source) != code_hash(source):
        return "its code changed since it last ran"
    if parents:
        return "upstream changed since it last ran: " + _upstream(graph, block, parents)
    return "its code changed since it last ran"
