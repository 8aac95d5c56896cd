"""What a pipeline runs, and in which order (pure, no I/O).

Targets: ``all`` blocks; ``stale`` (every block that is not fresh); ``upstream`` of a block
(the block and what it needs); ``downstream`` of a block (the block and everything that
depends on it); ``blocks`` (a list). Targeted blocks always run; blocks they need run too
unless they are fresh, since the kernel already holds their results. Blank blocks never
run (JupyterLab does not send an empty cell to the kernel either). A block that read a
name after another block replaced it (``state.overwritten``) needs its writer again, fresh
or not, with the blocks that writer built the value from (``Graph.built_by``): the kernel
holds the other block's value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .graph import Graph
from .state import Overwrite

TARGETS = ("all", "stale", "upstream", "downstream", "blocks")


@dataclass(frozen=True)
class Plan:
    """Blocks to run in a valid order, and why each one is in it."""

    order: list[int]
    reasons: dict[int, str]


def make_plan(
    graph: Graph,
    states: Mapping[int, str],
    target: str,
    block_ids: Collection[int] = (),
    lost: Mapping[int, Collection[Overwrite]] | None = None,
) -> Plan:
    """The plan for ``target`` (``block_ids``: the block of upstream/downstream, or the
    list for ``blocks``; they must be nodes of the graph). ``lost``: see
    ``state.overwritten``."""
    if target == "all":
        targeted = set(graph.order)
    elif target == "stale":
        targeted = {b for b in graph.order if states.get(b) != "fresh"}
    elif target == "upstream":
        targeted = set(block_ids)
    elif target == "downstream":
        targeted = set(block_ids)
        for block in block_ids:
            targeted |= graph.downstream(block)
    elif target == "blocks":
        targeted = set(block_ids)
    else:
        raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")
    targeted = {b for b in targeted if graph.sources[b].strip()}
    reasons = {b: "targeted" if target != "stale" else states.get(b, "stale") for b in targeted}
    for block in sorted(targeted, key=graph.order.index):
        for needed in graph.upstream(block):
            if needed not in reasons and states.get(needed) != "fresh":
                reasons[needed] = f"needed by block {block} ({states.get(needed, 'stale')})"
    for block in sorted(reasons, key=graph.order.index):
        for loss in (lost or {}).get(block, ()):
            for writer in graph.built_by(loss.writer, loss.name):
                if writer not in reasons:
                    reasons[writer] = (
                        f"needed by block {block} (its {loss.name} was replaced by block {loss.by})"
                    )
    return Plan(graph.topological(reasons), reasons)
