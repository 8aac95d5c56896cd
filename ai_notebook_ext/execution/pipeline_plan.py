"""Pipeline planning and scheduling decisions (pure): the blocks a target names, the
initial results, what runs next, what a failure skips, the closing summary."""

from __future__ import annotations

from typing import Any

from ..dag.graph import Graph
from ..dag.plan import Plan
from ..errors import BadRequest, NotFound
from .batches import KERNEL, batch, schedulable
from .pipeline_store import PipelineState
from .schemas import PipelineCreate


def targets(graph: Graph, options: PipelineCreate) -> list[int]:
    """The blocks the target names, checked against the project's code blocks."""
    if options.target in ("upstream", "downstream"):
        if options.block_id is None:
            raise BadRequest(
                f"block_id is required for target {options.target!r}",
                details={"field": "block_id"},
            )
        wanted, name = [options.block_id], "block_id"
    elif options.target == "blocks":
        if not options.block_ids:
            raise BadRequest(
                "block_ids is required for target 'blocks'", details={"field": "block_ids"}
            )
        wanted, name = list(dict.fromkeys(options.block_ids)), "block_ids"
    else:
        return []
    for block in wanted:
        if block not in graph.sources:
            raise NotFound(
                f"{name}: block {block} is not a code block of this project",
                details={"field": name, "block_id": block},
            )
    return wanted


def initial_results(plan: Plan) -> dict[int, dict[str, Any]]:
    """Every planned block pending, with the reason it is in the plan."""
    return {
        b: {
            "block_id": b,
            "status": "pending",
            "run_id": None,
            "attempts": 0,
            "reason": plan.reasons[b],
            "where": KERNEL,
        }
        for b in plan.order
    }


def summary(results: dict[int, dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    order = ("succeeded", "failed", "skipped", "cancelled", "pending")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s)) or "nothing to run"


def blocked_by_failure(state: PipelineState, block: int) -> str:
    """Why the block is skipped because of an upstream block ("" if it is not)."""
    results, plan = state.results, state.run.plan or []
    bad = [
        p
        for p in state.graph.parents(block)
        if p in results and results[p]["status"] in ("failed", "skipped", "cancelled")
    ]
    if not bad:
        return ""
    parent = min(bad, key=plan.index)
    return f"upstream block {parent} {results[parent]['status']}"


def next_unit(state: PipelineState, plan: list[int], remaining: list[int]) -> dict[int, list[int]]:
    """The next block to run alone, or the blocks to run together in forked workers, each
    with the blocks of the batch it waits for. A batch has at least two blocks to start
    with: a chain alone runs faster in the kernel itself."""
    if state.options.parallel <= 1:
        return {remaining[0]: []}
    succeeded = {b for b, r in state.results.items() if r["status"] == "succeeded"}
    members = batch(state.graph, plan, remaining, succeeded)
    if sum(1 for after in members.values() if not after) > 1:
        return members
    ready = schedulable(state.graph, plan, remaining, succeeded) or [remaining[0]]
    return {ready[0]: []}
