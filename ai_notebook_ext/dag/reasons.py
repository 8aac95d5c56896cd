"""Why a stale block is stale, in words a person reads in a tooltip (pure).

The workspace and the DAG endpoint both say it, so the browser shows the server's
reason rather than working out its own. Upstream blocks are named by id and by the first
line of their code, the way a user recognises a cell.
"""

from __future__ import annotations

from collections.abc import Mapping

from .analysis import code_hash
from .graph import Graph
from .state import INTERRUPTED, RunFacts, overwritten

FIRST_LINE = 40  # characters of an upstream block's first line


def first_line(source: str, limit: int = FIRST_LINE) -> str:
    """The first non-blank line of ``source``, shortened with an ellipsis."""
    line = next((text.strip() for text in source.splitlines() if text.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _name(graph: Graph, block: int, target: int) -> str:
    names = next((e.names for e in graph.edges if (e.source, e.target) == (block, target)), ())
    return f"{_block(graph, block)} ({', '.join(names) or 'explicit edge'})"


def _block(graph: Graph, block: int) -> str:
    line = first_line(graph.sources.get(block, ""))
    return f"block {block} “{line}”" if line else f"block {block}"


def _upstream(graph: Graph, target: int, parents: list[int]) -> str:
    return "; ".join(_name(graph, parent, target) for parent in parents)


def stale_reason(
    graph: Graph,
    block: int,
    states: Mapping[int, str],
    facts: Mapping[int, RunFacts],
    last_source: str | None,
    kernel_live: bool,
) -> str:
    """Why ``block`` (stale) is stale. ``last_source``: the code of its last successful run,
    if that is its last run."""
    if not kernel_live:
        return "no kernel is running: the results of its last run are gone"
    fact = facts.get(block, RunFacts())
    if fact.last_status in INTERRUPTED and fact.last_started:
        return "its last run was stopped part way: what it changed may be half done"
    if fact.fresh_fingerprint is None:
        if fact.last_status == "succeeded":  # in an earlier kernel
            return "it has not run successfully since the kernel (re)started"
        if fact.last_status == "cancelled":  # never began (it began: stopped part way)
            return (
                "it has not run successfully in the current kernel (its last run was "
                "cancelled before it started)"
            )
        return "it has not run successfully in the current kernel"
    if fact.outdated_reads:
        return "a dataset it read has a newer version"
    parents = sorted(graph.parents(block), key=graph.order.index)
    not_fresh = [p for p in parents if states.get(p) != "fresh"]
    if not_fresh:
        return "upstream is not fresh: " + _upstream(graph, block, not_fresh)
    source = graph.sources[block]
    if last_source is not None and code_hash(last_source) != code_hash(source):
        return "its code changed since it last ran"
    lost = overwritten(graph, facts, (block,)).get(block)
    if lost:
        first = lost[0]
        return (
            f"it read {first.name} after {_block(graph, first.by)} replaced the value of "
            f"{_block(graph, first.writer)}: that block runs again first (or rename one of "
            "the two)"
        )
    again = [
        p for p in parents if (facts.get(p, RunFacts()).fresh_run or 0) > (fact.fresh_run or 0)
    ]
    if again:
        return "upstream ran again after it: " + _upstream(graph, block, again)
    if parents:
        return "upstream changed since it last ran: " + _upstream(graph, block, parents)
    if last_source is not None:  # same code: what it depended on was moved or removed
        return "the blocks it depends on changed (moved, edited or removed) since it last ran"
    return "its code changed since it last ran"
