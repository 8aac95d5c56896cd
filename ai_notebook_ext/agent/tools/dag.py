"""DAG tools: read states, edges and what is stale; add explicit edges."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Outcome, Params, Tool, ToolContext
from .blocks import NoArgs


class EdgeArgs(Params):
    source: int = Field(ge=1, description="The block that must run first.")
    target: int = Field(ge=1, description="The block that depends on it.")


async def read_dag(ctx: ToolContext, _: NoArgs) -> Outcome:
    dag = await ctx.services.dag.get(ctx.actor, ctx.project_id)
    nodes = [
        {
            "block_id": n.block_id,
            "position": n.position,
            "state": n.state,
            "defines": n.defines,
            "references": n.references,
            **({"unresolved": n.unresolved} if n.unresolved else {}),
            **({"error": n.error} if n.error else {}),
        }
        for n in dag.nodes
    ]
    edges = [
        {"source": e.source, "target": e.target, "kind": e.kind, "names": e.names}
        for e in dag.edges
    ]
    stale = [n.block_id for n in dag.nodes if n.state in ("stale", "never-run", "failed")]
    return Outcome({"nodes": nodes, "edges": edges, "not_fresh": stale})


async def add_edge(ctx: ToolContext, args: EdgeArgs) -> Outcome:
    edge = await ctx.services.dag.add_edge(ctx.actor, ctx.project_id, args.source, args.target)
    change = {
        "kind": "edge_added",
        "edge_id": edge.id,
        "source": args.source,
        "target": args.target,
    }
    return Outcome({"edge_id": edge.id}, change=change)


async def preview_edge(ctx: ToolContext, args: EdgeArgs) -> dict[str, Any]:
    return {"action": f"make block {args.target} depend on block {args.source}"}


TOOLS = [
    Tool(
        "read_dag",
        "The dependency graph: each block's state (fresh, stale, never-run, failed, "
        "running), what it defines and references, edges, and what is not fresh.",
        NoArgs,
        "read",
        read_dag,
    ),
    Tool(
        "add_edge",
        "Add an explicit dependency between two blocks (one the code does not show).",
        EdgeArgs,
        "write",
        add_edge,
        preview_edge,
    ),
]
