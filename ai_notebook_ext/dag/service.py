"""The DAG of a project from the database: graph, fingerprints, states, explicit edges.

Role rules: viewers read the DAG; editors add and remove explicit edges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from ..errors import BadRequest, Conflict, NotFound
from ..events.feed import ProjectFeed
from ..projects.access import authorize
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import DatasetVersion, Lineage
from ..store.fast import fast
from ..store.models import Block, Edge, Run
from ..store.types import utcnow
from .graph import Edge as GraphEdge
from .graph import Graph, build, find_cycle
from .reasons import stale_reason
from .schemas import DagEdge, DagNode, DagOut, EdgeOut, IgnoredEdge
from .state import RunFacts, fingerprints, states

LiveGeneration = Callable[[int], "int | None"]


# Built once: load_graph runs for every execution (the block's fingerprint), and building
# and cache-keying a select each time cost more than running it.
_blocks, _edges = Block.__table__, Edge.__table__
# ``fast``: on SQLite's inline connection they skip SQLAlchemy's execution context.
GRAPH_BLOCKS = fast(
    select(_blocks.c.id, _blocks.c.source, _blocks.c.position)
    .where(_blocks.c.project_id == bindparam("project_id"), _blocks.c.kind == "code")
    .order_by(_blocks.c.position)
)
GRAPH_EDGES = fast(
    select(_edges.c.id, _edges.c.source_id, _edges.c.target_id)
    .where(_edges.c.project_id == bindparam("project_id"))
    .order_by(_edges.c.id)
)


async def load_graph(
    session: Any, project_id: int, replace: dict[int, str] | None = None
) -> tuple[Graph, dict[int, int], dict[tuple[int, int], int]]:
    """The project's graph of code blocks (``replace``: sources to use instead of the
    stored ones), the blocks' positions, and explicit edge ids by (source, target).
    ``session`` is a session or a bare connection (both run the Core selects)."""
    params = {"project_id": project_id}
    rows = (await session.execute(GRAPH_BLOCKS, params)).all()
    edge_rows = (await session.execute(GRAPH_EDGES, params)).all()
    return _graph(rows, edge_rows, replace or {})


def _graph(
    rows: Any, edge_rows: Any, replace: dict[int, str]
) -> tuple[Graph, dict[int, int], dict[tuple[int, int], int]]:
    code = {r[0] for r in rows}
    blocks = [(r[0], replace.get(r[0], r[1])) for r in rows]
    explicit = [(e[1], e[2]) for e in edge_rows if e[1] in code and e[2] in code]
    graph = build(blocks, explicit, strict=False)
    positions = {r[0]: r[2] for r in rows}
    return graph, positions, {(e[1], e[2]): e[0] for e in edge_rows}


async def block_fingerprint(
    db: Database, project_id: int, block_id: int, source: str
) -> str | None:
    """The fingerprint of ``block_id`` running ``source`` in the project as it is now.
    Runs for every execution: read without a transaction of its own (``Database.read``)."""
    params = {"project_id": project_id}
    rows, edge_rows = await db.read((GRAPH_BLOCKS, params), (GRAPH_EDGES, params))
    graph, _, _ = _graph(rows, edge_rows, {block_id: source})
    if block_id not in graph.sources:
        return None
    return fingerprints(graph)[block_id]


async def run_facts(session: Any, project_id: int, generation: int | None) -> dict[int, RunFacts]:
    """Per block: its newest run's status and, in ``generation``, its newest success's
    id and fingerprint."""
    newest = (
        select(func.max(Run.id))
        .where(Run.project_id == project_id, Run.block_id.is_not(None))
        .group_by(Run.block_id)
    )
    last = {
        r.block_id: (r.status, r.started_at is not None)
        for r in await session.execute(
            select(Run.block_id, Run.status, Run.started_at).where(Run.id.in_(newest))
        )
    }
    fresh: dict[int, tuple[int, str | None]] = {}
    if generation is not None:
        newest_ok = (
            select(func.max(Run.id))
            .where(
                Run.project_id == project_id,
                Run.block_id.is_not(None),
                Run.status == "succeeded",
                Run.kernel_generation == generation,
            )
            .group_by(Run.block_id)
        )
        fresh = {
            r.block_id: (r.id, r.fingerprint)
            for r in await session.execute(
                select(Run.block_id, Run.id, Run.fingerprint).where(Run.id.in_(newest_ok))
            )
        }
    outdated = await _outdated_reads(session, newest_ok) if generation is not None else set()
    facts = {}
    for block, (status, started) in last.items():
        run_id, fingerprint = fresh.get(block, (None, None))
        facts[block] = RunFacts(status, fingerprint, block in outdated, run_id, started)
    return facts


async def last_success_sources(session: Any, blocks: list[int]) -> dict[int, str]:
    """The code of each block's last run, for those whose last run succeeded."""
    query = (
        select(Block.id, Run.source)
        .join(Run, Run.id == Block.last_run_id)
        .where(Block.id.in_(blocks), Run.status == "succeeded")
    )
    return {r.id: r.source for r in await session.execute(query)}


async def _outdated_reads(session: Any, runs: Any) -> set[int]:
    """Blocks whose run (among ``runs``) read a dataset version that is no longer the
    latest of its dataset."""
    newer = aliased(DatasetVersion)
    query = (
        select(Run.block_id)
        .join(Lineage, Lineage.run_id == Run.id)
        .join(DatasetVersion, DatasetVersion.id == Lineage.version_id)
        .join(
            newer,
            (newer.dataset_id == DatasetVersion.dataset_id)
            & (newer.number > DatasetVersion.number),
        )
        .where(Run.id.in_(runs), Lineage.direction == "read")
        .distinct()
    )
    return {r.block_id for r in await session.execute(query)}


def edges_out(
    graph: Graph, edge_ids: dict[tuple[int, int], int]
) -> tuple[list[DagEdge], list[IgnoredEdge]]:
    """The graph's edges and its ignored (cyclic) explicit edges as the API shows them."""
    edges = [
        DagEdge(
            source=e.source,
            target=e.target,
            kind=e.kind,  # type: ignore[arg-type]
            names=list(e.names),
            id=edge_ids.get((e.source, e.target)) if e.kind == "explicit" else None,
        )
        for e in graph.edges
    ]
    ignored = [
        IgnoredEdge(id=edge_ids[(e.source, e.target)], source=e.source, target=e.target, cycle=c)
        for e, c in graph.ignored
    ]
    return edges, ignored


class DagService:
    """Reads a project's DAG and manages its explicit edges (announced to the project's
    members once committed)."""

    def __init__(
        self, db: Database, live_generation: LiveGeneration, feed: ProjectFeed | None = None
    ) -> None:
        self.db = db
        self.live_generation = live_generation
        self.feed = feed or ProjectFeed()

    async def get(self, actor: Actor, project_id: int) -> DagOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading the DAG")
            graph, positions, edge_ids = await load_graph(session, project_id)
            generation = self.live_generation(project_id)
            facts = await run_facts(session, project_id, generation)
            prints = fingerprints(graph)
            state = states(graph, prints, facts)
            stale = [b for b, s in state.items() if s == "stale"]
            ran = await last_success_sources(session, stale) if stale else {}
        nodes = []
        for block in graph.order:
            analysis = graph.analyses[block]
            nodes.append(
                DagNode(
                    block_id=block,
                    position=positions[block],
                    state=state[block],  # type: ignore[arg-type]
                    fingerprint=prints[block],
                    defines=sorted(analysis.defines),
                    references=sorted(analysis.references),
                    mutates=sorted(analysis.mutates),
                    unresolved=graph.unresolved.get(block, []),
                    star_imports=list(analysis.star_imports),
                    error=analysis.error,
                    stale_reason=stale_reason(
                        graph, block, state, facts, ran.get(block), generation is not None
                    )
                    if state[block] == "stale"
                    else None,
                )
            )
        edges, ignored = edges_out(graph, edge_ids)
        return DagOut(nodes=nodes, edges=edges, ignored_edges=ignored, kernel_generation=generation)

    async def add_edge(self, actor: Actor, project_id: int, source: int, target: int) -> EdgeOut:
        """Add ``source -> target``; 409 if it exists or would close a cycle."""
        edge = await self._add_edge(actor, project_id, source, target)
        self.feed.edge_added(project_id, edge, actor.username)
        return edge

    async def _add_edge(self, actor: Actor, project_id: int, source: int, target: int) -> EdgeOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "adding edges", lock=True)
            kinds = dict(
                (
                    await session.execute(
                        select(Block.id, Block.kind).where(
                            Block.project_id == project_id, Block.id.in_((source, target))
                        )
                    )
                ).all()
            )
            for field, block in (("source", source), ("target", target)):
                if block not in kinds:
                    raise NotFound(
                        f"block {block} not found in project {project_id}",
                        details={"field": field, "block_id": block},
                    )
                if kinds[block] != "code":
                    raise BadRequest(
                        f"{field}: block {block} is a {kinds[block]} block; edges join code blocks",
                        details={"field": field, "block_id": block},
                    )
            graph, _, edge_ids = await load_graph(session, project_id)
            if (source, target) in edge_ids:
                raise Conflict(
                    f"the edge {source} -> {target} exists already",
                    details={"id": edge_ids[(source, target)]},
                )
            # The loaded graph already holds every other edge: only the new one is checked.
            new = GraphEdge(source, target, "explicit")
            cycle = (
                [source, source]
                if source == target
                else find_cycle(graph.order, [*graph.edges, new])
            )
            if cycle:
                path = " -> ".join(map(str, cycle))
                raise Conflict(
                    f"the edge {source} -> {target} would create a cycle: {path}",
                    details={"cycle": cycle},
                )
            edge = Edge(
                project_id=project_id,
                source_id=source,
                target_id=target,
                created_by=actor.id,
                created_at=utcnow(),
            )
            session.add(edge)
            try:
                await session.flush()
            except IntegrityError:  # a concurrent request added it first
                raise Conflict(f"the edge {source} -> {target} exists already") from None
            return EdgeOut.model_validate(edge)

    async def remove_edge(self, actor: Actor, project_id: int, edge_id: int) -> None:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "removing edges")
            edge = await session.get(Edge, edge_id)
            if edge is None or edge.project_id != project_id:
                raise NotFound(f"edge {edge_id} not found in project {project_id}")
            await session.delete(edge)
        self.feed.edge_removed(project_id, edge_id, actor.username)
