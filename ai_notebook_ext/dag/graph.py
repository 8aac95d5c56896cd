"""The block graph of a project: inferred and explicit edges, cycles, unresolved names.

A block depends on the nearest earlier block that defines or mutates a name it references
or mutates; the edge carries those names. A name nobody earlier writes is *unresolved* for
that block, unless an earlier block star-imports (then the newest such block is assumed
to provide it, and the edge says ``*``). Explicit edges (made by users) come on top; one
that would close a cycle is refused with the blocks on the cycle. Pure: no I/O.
"""

from __future__ import annotations

import graphlib
import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .analysis import Analysis, analyze

STAR = "*"


@dataclass(frozen=True)
class Edge:
    """``source`` must run before ``target``."""

    source: int
    target: int
    kind: str  # inferred | explicit
    names: tuple[str, ...] = ()


class CycleError(ValueError):
    """Edges that would make the graph cyclic; ``cycle`` lists the blocks on it in order."""

    def __init__(self, cycle: list[int]) -> None:
        super().__init__("the edges would create a cycle: " + " -> ".join(map(str, cycle)))
        self.cycle = cycle


@dataclass
class Graph:
    """Blocks in position order and the edges between them."""

    order: list[int]
    sources: dict[int, str]
    analyses: dict[int, Analysis]
    edges: list[Edge]
    unresolved: dict[int, list[str]] = field(default_factory=dict)
    ignored: list[tuple[Edge, list[int]]] = field(default_factory=list)  # cyclic explicit ones
    # Per block, the names it writes: what it defines, and what it mutates unless that is a
    # module (calling time.sleep() or np.random.seed() does not make a block a writer).
    writes: dict[int, frozenset[str]] = field(default_factory=dict)
    _parents: dict[int, set[int]] = field(default_factory=dict, repr=False)
    _children: dict[int, set[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        parents: dict[int, set[int]] = {b: set() for b in self.order}
        children: dict[int, set[int]] = {b: set() for b in self.order}
        for edge in self.edges:
            parents[edge.target].add(edge.source)
            children[edge.source].add(edge.target)
        self._parents, self._children = parents, children

    @property
    def errors(self) -> dict[int, str]:
        """Blocks whose code could not be parsed, with the parser's message."""
        return {b: a.error for b, a in self.analyses.items() if a.error}

    def parents(self, block_id: int) -> set[int]:
        return set(self._parents[block_id])

    def children(self, block_id: int) -> set[int]:
        return set(self._children[block_id])

    def upstream(self, block_id: int) -> set[int]:
        """Every block this one needs, directly or not (not itself)."""
        return self._reach(block_id, self._parents)

    def downstream(self, block_id: int) -> set[int]:
        """Every block that needs this one, directly or not (not itself)."""
        return self._reach(block_id, self._children)

    def built_by(self, block_id: int, name: str) -> list[int]:
        """The blocks whose runs build the value of ``name`` that ``block_id`` writes,
        newest first: the block, and while a block reads the name too (``df["b"] = ...``,
        ``df = df.head()``), the block it reads it from."""
        chain = [block_id]
        while name in (self.analyses[chain[-1]].references | self.analyses[chain[-1]].mutates):
            source = next(
                (e.source for e in self.edges if e.target == chain[-1] and name in e.names), None
            )
            if source is None or source in chain:
                break
            chain.append(source)
        return chain

    @staticmethod
    def _reach(start: int, links: dict[int, set[int]]) -> set[int]:
        seen: set[int] = set()
        stack = list(links[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(links[node])
        return seen

    def topological(self, blocks: Iterable[int] | None = None) -> list[int]:
        """The given blocks (default: all) in an order that respects every edge among them;
        of the blocks ready at each step the one earliest in position goes first, so the
        order is the notebook's wherever the edges allow."""
        wanted = set(self.order if blocks is None else blocks)
        position = {b: i for i, b in enumerate(self.order)}
        indegree = {b: sum(1 for p in self._parents[b] if p in wanted) for b in wanted}
        heap = [(position[b], b) for b, d in indegree.items() if d == 0]
        heapq.heapify(heap)
        result: list[int] = []
        while heap:
            _, block = heapq.heappop(heap)
            result.append(block)
            for child in self._children[block]:
                if child in wanted:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        heapq.heappush(heap, (position[child], child))
        return result


def build(
    blocks: Sequence[tuple[int, str]],
    explicit: Iterable[tuple[int, int]] = (),
    *,
    strict: bool = True,
) -> Graph:
    """The graph of ``blocks`` (``(id, source)`` in position order) plus explicit edges.

    An explicit edge that closes a cycle raises CycleError when ``strict`` (a user adding
    it), and is otherwise left out and listed in ``ignored`` (an edge that became cyclic
    after blocks moved or changed). An edge naming an unknown block is a ValueError.
    """
    order = [block_id for block_id, _ in blocks]
    analyses = {block_id: analyze(source) for block_id, source in blocks}
    edges, unresolved, writes = _infer(order, analyses)
    known = set(order)
    ignored: list[tuple[Edge, list[int]]] = []
    for source, target in explicit:
        if source not in known or target not in known:
            raise ValueError(f"edge {source} -> {target} names a block not in the project")
        edge = Edge(source, target, "explicit")
        cycle = [source, source] if source == target else find_cycle(order, [*edges, edge])
        if cycle and strict:
            raise CycleError(cycle)
        if cycle:
            ignored.append((edge, cycle))
        else:
            edges.append(edge)
    graph = Graph(order, dict(blocks), analyses, edges, unresolved)
    graph.ignored = ignored
    graph.writes = writes
    return graph


def _infer(
    order: list[int], analyses: dict[int, Analysis]
) -> tuple[list[Edge], dict[int, list[str]], dict[int, frozenset[str]]]:
    last_writer: dict[str, int] = {}
    modules: set[str] = set()  # names whose newest writer bound them with an import
    star_block: int | None = None
    edges: list[Edge] = []
    unresolved: dict[int, list[str]] = {}
    writes: dict[int, frozenset[str]] = {}
    for block_id in order:
        analysis = analyses[block_id]
        needs: dict[int, set[str]] = defaultdict(set)
        missing: list[str] = []
        for name in sorted(analysis.references | analysis.mutates):
            writer = last_writer.get(name)
            if writer is not None:
                needs[writer].add(name)
            elif star_block is not None:
                needs[star_block].add(STAR)
            elif name in analysis.references:
                missing.append(name)
        for writer, names in needs.items():
            edges.append(Edge(writer, block_id, "inferred", tuple(sorted(names))))
        if missing:
            unresolved[block_id] = missing
        mutated = {n for n in analysis.mutates if n not in modules}
        writes[block_id] = frozenset(analysis.defines | mutated)
        for name in writes[block_id]:
            last_writer[name] = block_id
        modules.difference_update(analysis.defines)
        modules.update(analysis.imports)
        if analysis.star_imports:
            star_block = block_id
    return edges, unresolved, writes


def find_cycle(order: Sequence[int], edges: Iterable[Edge]) -> list[int] | None:
    """A cycle among the edges as a list of blocks (first == last), or None."""
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for block in order:
        sorter.add(block)
    for edge in edges:
        sorter.add(edge.target, edge.source)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])  # each block runs before the next: edge order
    return None
