"""Parallel pipelines: which blocks may run together, and the kernel batch that runs them.

Blocks run together in forked copies of the project kernel (``kernel/parallel.py``) when
they are ready (every upstream block of the plan succeeded) or wait only for blocks of
the same batch (``after``: the kernel forks them once those ended well), when no earlier
unfinished block of the plan other than their own ancestors writes or reads a name they
write (so loading each block's results as it ends gives the sequential state), and when
what they produce can travel back by value: blocks that define functions or classes,
import modules, use IPython magics or top-level await, or star-import run in the project
kernel itself. Pure, apart from making the kernel code.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..dag.analysis import Analysis
from ..dag.graph import Graph

BATCH_MIME = "application/vnd.ai-notebook.batch+json"
WORKER = "forked worker"
KERNEL = "project kernel"


def ineligible(analysis: Analysis) -> str:
    """Why a block must run in the project kernel itself ("" if it may run forked)."""
    if analysis.error:
        return "its code does not parse"
    if analysis.code_defs:
        names = ", ".join(sorted(analysis.code_defs)[:3])
        return f"it defines functions, classes or modules ({names})"
    if analysis.ipython:
        return "it uses IPython magics or shell escapes"
    if analysis.top_level_await:
        return "it uses top-level await"
    if analysis.star_imports:
        return "it star-imports"
    if "ain" in analysis.references:
        return "it loads or saves datasets (ain), which only the kernel can record"
    return ""


def reads(analysis: Analysis) -> frozenset[str]:
    return analysis.references | analysis.mutates


def schedulable(
    graph: Graph, plan: Collection[int], remaining: list[int], succeeded: set[int]
) -> list[int]:
    """Blocks of ``remaining`` (in plan order) that may start now, in plan order."""
    result = []
    for index, block in enumerate(remaining):
        if not all(p in succeeded for p in graph.parents(block) if p in plan):
            continue
        mine = graph.writes[block]
        earlier = remaining[:index]
        if any(mine & (graph.writes[e] | reads(graph.analyses[e])) for e in earlier):
            continue
        result.append(block)
    return result


def batch(
    graph: Graph, plan: Collection[int], remaining: list[int], succeeded: set[int]
) -> dict[int, list[int]]:
    """The blocks of ``remaining`` that may run in one batch of forked workers (in plan
    order), each with its parents in the batch (it starts once they ended well)."""
    members: dict[int, list[int]] = {}
    ancestors: dict[int, set[int]] = {}
    for index, block in enumerate(remaining):
        if ineligible(graph.analyses[block]):
            continue
        parents = [p for p in graph.parents(block) if p in plan]
        if not all(p in succeeded or p in members for p in parents):
            continue
        after = [p for p in parents if p in members]
        mine_before = {a for p in after for a in ancestors[p]} | set(after)
        mine = graph.writes[block]
        earlier = [e for e in remaining[:index] if e not in mine_before]
        if any(mine & (graph.writes[e] | reads(graph.analyses[e])) for e in earlier):
            continue
        members[block] = after
        ancestors[block] = mine_before
    return members


def batch_code(blocks: list[dict[str, Any]], slots: int, stop_on_error: bool = False) -> str:
    """The kernel code running ``blocks`` in up to ``slots`` forked workers (no names are
    bound in the user's namespace by it)."""
    payload = json.dumps(blocks)
    return (
        "__import__('ai_notebook_ext.kernel.parallel', fromlist=['run_batch']).run_batch("
        f"__import__('json').loads({payload!r}), {int(slots)}, {bool(stop_on_error)})"
    )


def batch_results(outputs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The per-block summaries the batch has displayed so far (one bundle as each block
    ends, one with all of them at the end)."""
    found: dict[int, dict[str, Any]] = {}
    for output in outputs:
        data = output.get("data", {}).get(BATCH_MIME)
        if isinstance(data, dict):
            found.update({int(b["block_id"]): b for b in data.get("blocks", [])})
    return found


def block_outputs(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """A forked block's nbformat outputs: captured streams and displays, then its value or
    its error, as the kernel would have published them."""
    outputs = list(summary.get("outputs", []))
    if summary.get("result"):
        outputs.append(
            {
                "output_type": "execute_result",
                "execution_count": None,
                "data": summary["result"].get("data", {}),
                "metadata": summary["result"].get("metadata", {}),
            }
        )
    error = summary.get("error")
    if error:
        outputs.append({"output_type": "error", **error})
    return outputs
