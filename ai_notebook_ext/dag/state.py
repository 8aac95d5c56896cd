"""Fingerprints and states of blocks: which results the project kernel holds are current.

A block's fingerprint hashes its normalized code (``analysis.code_hash``) with the
fingerprints of the blocks it depends on, so editing a block changes its fingerprint and
every descendant's. The dataset versions a block's last success read count too: a newer
version of one of them makes the block (and so its descendants) stale. Each run
records the fingerprint it ran with. A block is **fresh** when its last successful run in
the kernel's current generation had its current fingerprint, everything upstream is fresh
and no upstream block succeeded again after it: re-running an upstream block, even with
the same code, rebuilds the values this block read (and undoes what it mutated in them),
as marimo and ipyflow treat it. Otherwise it is stale (or never-run, running, failed).
A run stopped part way (cancelled or interrupted in the kernel) leaves its block stale. A
blank block holds nothing and never runs in a pipeline: it is always fresh.

A name two blocks write (``df = ...`` in two places) holds whichever ran last. A block
that read it from its writer after the other one had replaced it read the wrong value
(``overwritten``): it is stale, and a pipeline runs its writer again before it.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from .analysis import code_hash
from .graph import STAR, Graph

STATES = ("never-run", "fresh", "stale", "running", "failed")
INTERRUPTED = ("cancelled", "interrupted")  # run statuses of a run stopped part way


def fingerprints(graph: Graph, inputs: Mapping[int, Iterable[str]] | None = None) -> dict[int, str]:
    """Every block's fingerprint; ``inputs`` adds more per block (e.g. dataset versions)."""
    result: dict[int, str] = {}
    for block in graph.topological():
        digest = hashlib.sha256(b"ainb-fingerprint-v1\0")
        digest.update(code_hash(graph.sources[block]).encode())
        for parent_fp in sorted(result[p] for p in graph.parents(block)):
            digest.update(b"\0" + parent_fp.encode())
        for extra in sorted((inputs or {}).get(block, ())):
            digest.update(b"\1" + extra.encode())
        result[block] = digest.hexdigest()
    return result


@dataclass(frozen=True)
class RunFacts:
    """What the runs table says about one block."""

    last_status: str | None = None  # status of its newest run
    fresh_fingerprint: str | None = None  # of its newest success in the current kernel
    outdated_reads: bool = False  # that success read a dataset that has a newer version
    fresh_run: int | None = None  # the id of that success (run ids grow in run order)
    last_started: bool = False  # its newest run reached the kernel (an interrupted one did)


@dataclass(frozen=True)
class Overwrite:
    """A name a block read from ``writer`` after ``by`` (another block writing it) ran."""

    name: str
    writer: int
    by: int


def overwritten(
    graph: Graph, facts: Mapping[int, RunFacts], blocks: Collection[int] | None = None
) -> dict[int, list[Overwrite]]:
    """Blocks (default: all) whose current success read a name after another block had
    replaced its writer's value: the writer's success, then the other's, then the
    block's, in the kernel's current generation."""
    writers: dict[str, list[int]] | None = None  # made when first needed
    result: dict[int, list[Overwrite]] = {}
    for edge in graph.edges:
        reader, writer = edge.target, edge.source
        if blocks is not None and reader not in blocks:
            continue
        read_at = facts.get(reader, RunFacts()).fresh_run
        written_at = facts.get(writer, RunFacts()).fresh_run
        if read_at is None or written_at is None or written_at > read_at:
            continue
        if writers is None:
            writers = defaultdict(list)
            for block, names in graph.writes.items():
                for name in names:
                    writers[name].append(block)
        for name in edge.names:
            for other in writers.get(name, ()) if name != STAR else ():
                at = facts.get(other, RunFacts()).fresh_run
                if other not in (reader, writer) and at is not None and written_at < at < read_at:
                    result.setdefault(reader, []).append(Overwrite(name, writer, other))
    return result


def states(
    graph: Graph,
    prints: Mapping[int, str],
    facts: Mapping[int, RunFacts],
    lost: Mapping[int, object] | None = None,
) -> dict[int, str]:
    """The state of every block; callers pass facts computed for the kernel generation
    that is alive now (none if no kernel runs: then nothing is fresh). ``lost``: the
    caller's ``overwritten(graph, facts)``, if it has it already."""
    if lost is None:
        lost = overwritten(graph, facts)
    result: dict[int, str] = {}
    for block in graph.topological():
        fact = facts.get(block, RunFacts())
        upstream_fresh = all(
            result[p] == "fresh" and not _ran_after(facts.get(p), fact)
            for p in graph.parents(block)
        )
        if not graph.sources[block].strip():
            state = "fresh"
        elif fact.last_status in ("queued", "running"):
            state = "running"
        elif fact.last_status == "failed":
            state = "failed"
        elif fact.last_status is None:
            state = "never-run"
        elif fact.last_status in INTERRUPTED and fact.last_started:
            state = "stale"  # stopped part way: what it changed may be half done
        elif (
            fact.fresh_fingerprint == prints[block]
            and upstream_fresh
            and not fact.outdated_reads
            and block not in lost
        ):
            state = "fresh"
        else:
            state = "stale"
        result[block] = state
    return result


def _ran_after(parent: RunFacts | None, child: RunFacts) -> bool:
    """Whether the parent's current success came after the child's."""
    if parent is None or parent.fresh_run is None or child.fresh_run is None:
        return False
    return parent.fresh_run > child.fresh_run
