"""A block's state as the workspace shows it (pure; why a stale block is stale is
``dag/reasons.py``'s, which the DAG endpoint says too).

The DAG's states (``dag/state.py``: never-run, fresh, stale, running, failed) are refined
with what the runs and pipelines say: ``queued`` (its newest run waits, or a running
pipeline has yet to run it) and ``skipped`` (the newest pipeline that planned it skipped
it, and it has not run since). Markdown blocks have no state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    last_run: int = 0  # the newest run id of the pipeline (its own row or a block's)


def pipeline_marks(pipelines: list[Any]) -> dict[int, PipelineMark]:
    """Per block, the mark of the newest of ``pipelines`` (rows with id, status, results;
    newest first) that planned it."""
    marks: dict[int, PipelineMark] = {}
    for run in pipelines:
        results = run.results or ()
        last = max([run.id, *(r.get("run_id") or 0 for r in results)])
        for result in results:
            block = result.get("block_id")
            if isinstance(block, int) and block not in marks:
                marks[block] = PipelineMark(
                    run.id,
                    run.status,
                    str(result.get("status")),
                    str(result.get("reason", "")),
                    last,
                )
    return marks


def current_mark(
    graph: Graph, block: int, newest: Mapping[int, int], marks: Mapping[int, PipelineMark]
) -> PipelineMark | None:
    """The block's pipeline mark unless something upstream ran since that pipeline (the
    failure that skipped it was then fixed or is being worked on: plain DAG state again)."""
    mark = marks.get(block)
    if mark is None or block not in graph.sources:
        return mark
    if any(newest.get(up, 0) > mark.last_run for up in graph.upstream(block)):
        return None
    return mark


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
