"""Display ids across runs: a later block's ``update_display_data`` (or a new display with
the same id) updates the outputs an earlier block's run shows, as in JupyterLab and
nbclient (whose ``_display_id_map`` spans the whole notebook).

Per project, the registry knows for each block whose last run showed display ids which
outputs of that run show which id. A run's ids become targets when its end is on record
(``ended``, called by ``RunEnding``); the block's previous run stops being one as soon
as the block runs again (its outputs are no longer what the block shows). While a run
executes, its collector's display updates reach the registry through its output events
(``observe``); the targets' stored outputs are rewritten (new data externalized like any
output) and a ``run-output`` event with ``updated_by`` tells viewers to show the earlier
run's outputs again. Writes of one project are coalesced (at most one per
``FLUSH_INTERVAL``) and finished before the updating run's own end is announced.

Limits: the registry lives in memory, so displays shown before a server restart are not
updated by runs after it (nbformat outputs have no place for display ids, and a local
kernel's display handles do not outlive the server either). Blocks run in a parallel
pipeline's forked workers register no ids (their handles live in the forked process).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from ..events import RUN_OUTPUT
from ..store import Database
from ..store.models import Run
from ..store.types import utcnow
from . import statements as sql
from .artifacts import ArtifactStore
from .outputs import OutputCollector, StoredArtifact, externalize, storable, without_binary

if TYPE_CHECKING:
    from .progress import OutputEvents, RunEvents
    from .schemas import RunOut

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1  # seconds between two writes of updated displays of one project
EVENT_TEXT_CAP = 16_384
EVENT_MAX_OUTPUTS = 50

_READ_OUTPUTS = select(Run.outputs).where(Run.id == bindparam("run_id"))
_WRITE_OUTPUTS = (
    update(Run).where(Run.id == bindparam("run_id")).values(outputs=bindparam("outputs"))
)


@dataclass
class _Shown:
    """The run a block shows, and which of its outputs show which display id."""

    run_id: int
    block_id: int
    indices: dict[str, list[int]]
    seq: int  # its last run-output event's seq


@dataclass
class _Live:
    """A run executing now: its output events and its collector."""

    emitter: OutputEvents
    collector: OutputCollector


class DisplayRegistry:
    """Display id -> outputs of ended runs, per project; applies later runs' updates."""

    def __init__(
        self, db: Database, artifacts: ArtifactStore, events: RunEvents, text_limit: int
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.events = events
        self.text_limit = text_limit
        self._live: dict[int, _Live] = {}  # run id -> the run as it executes
        self._shown: dict[int, dict[int, _Shown]] = {}  # project -> block -> shown run
        # project -> run id -> (the run, output index -> (data, metadata, updating run))
        self._pending: dict[int, dict[int, tuple[_Shown, dict[int, tuple[Any, Any, int]]]]] = {}
        self._flushing: dict[int, asyncio.Task[None]] = {}
        self._last: dict[int, float] = {}  # project -> loop time of its last write

    def observe(self, emitter: OutputEvents, collector: OutputCollector) -> None:
        """A run's outputs changed: remember its collector; send its display updates
        to the ended runs showing those ids."""
        if emitter.run_id not in self._live:
            self._live[emitter.run_id] = _Live(emitter, collector)
        blocks = self._shown.get(emitter.project_id, {})
        if emitter.block_id in blocks:  # its block shows this run now, as a cell run again
            del blocks[emitter.block_id]
        self._route(emitter.project_id, emitter.run_id, collector)

    async def ended(self, run: RunOut) -> None:
        """``run``'s end is on record: the display updates it made are stored first, then
        its display ids replace its block's previous run's as targets."""
        live = self._live.pop(run.id, None)
        if live is not None:  # updates since its last output event
            self._route(run.project_id, run.id, live.collector)
        task = self._flushing.get(run.project_id)
        if task is not None:
            await asyncio.shield(task)
        if run.block_id is None:
            return
        blocks = self._shown.setdefault(run.project_id, {})
        blocks.pop(run.block_id, None)
        if live is not None and any(live.collector.display_ids.values()):
            indices = {k: list(v) for k, v in live.collector.display_ids.items() if v}
            blocks[run.block_id] = _Shown(run.id, run.block_id, indices, live.emitter.seq)
        if not blocks:
            self._shown.pop(run.project_id, None)

    def gone(self, run_id: int) -> None:
        """The run's end was recorded by someone else (a cancel): forget its collector."""
        self._live.pop(run_id, None)

    def _route(self, project_id: int, run_id: int, collector: OutputCollector) -> None:
        """Queue the collector's display updates for the other runs showing their ids."""
        updates = collector.take_display_updates()
        if not updates:
            return
        found = False
        for shown in self._shown.get(project_id, {}).values():
            if shown.run_id == run_id:
                continue
            for display_id, new in updates.items():
                for index in shown.indices.get(display_id, ()):
                    runs = self._pending.setdefault(project_id, {})
                    _, changes = runs.setdefault(shown.run_id, (shown, {}))
                    changes[index] = (new["data"], new["metadata"], run_id)
                    found = True
        if found and project_id not in self._flushing:
            self._flushing[project_id] = asyncio.ensure_future(self._flush(project_id))

    async def _flush(self, project_id: int) -> None:
        """Write what is pending for the project, at most once per FLUSH_INTERVAL."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending.get(project_id):
                wait = self._last.get(project_id, float("-inf")) + FLUSH_INTERVAL - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                pending = self._pending.pop(project_id, {})
                self._last[project_id] = loop.time()
                for run_id, (shown, changes) in pending.items():
                    try:
                        await self._rewrite(project_id, run_id, shown, changes)
                    except Exception:
                        log.exception("ai_notebook_ext: updating displays of run %s", run_id)
        finally:
            self._flushing.pop(project_id, None)

    async def _rewrite(
        self,
        project_id: int,
        run_id: int,
        shown: _Shown,
        changes: dict[int, tuple[Any, Any, int]],
    ) -> None:
        """Store the new data of some outputs of an ended run, then announce its outputs."""
        parts = [
            {"output_type": "display_data", "data": data, "metadata": metadata}
            for data, metadata, _ in changes.values()
        ]
        moved, stored = await asyncio.to_thread(
            externalize, storable(parts), self.artifacts.put, self.text_limit
        )
        async with self.db.connection() as conn:
            row = (await conn.execute(_READ_OUTPUTS, {"run_id": run_id})).first()
            if row is None:
                return  # deleted meanwhile
            outputs = list(row[0] or [])
            for index, new in zip(changes, moved, strict=True):
                if index >= len(outputs) or "data" not in outputs[index]:
                    continue
                out = dict(outputs[index])
                out["data"], out["metadata"] = new["data"], new["metadata"]
                out.pop("artifacts", None)
                if "artifacts" in new:
                    out["artifacts"] = new["artifacts"]
                outputs[index] = out
            await self._store_artifacts(conn, project_id, stored)
            await conn.execute(_WRITE_OUTPUTS, {"run_id": run_id, "outputs": outputs})
        shown.seq += 1
        light, omitted = without_binary(outputs[-EVENT_MAX_OUTPUTS:], EVENT_TEXT_CAP)
        omitted += sum(len(str(o)) for o in outputs[:-EVENT_MAX_OUTPUTS])
        by = max(by for _, _, by in changes.values())
        self.events.events.emit(
            RUN_OUTPUT,
            {
                "project_id": project_id,
                "run_id": run_id,
                "block_id": shown.block_id,
                "seq": shown.seq,
                "outputs": light,
                "omitted_bytes": omitted,
                "updated_by": by,
            },
            members_only=not self.events.private_outputs,
        )

    @staticmethod
    async def _store_artifacts(conn: Any, project_id: int, stored: list[StoredArtifact]) -> None:
        for art in {a.sha256: a for a in stored}.values():
            key = {"project_id": project_id, "sha256": art.sha256}
            if (await conn.execute(sql.ARTIFACT_EXISTS, key)).first() is None:
                mime = art.mime if len(art.mime) <= 255 else "application/octet-stream"
                await conn.execute(
                    sql.INSERT_ARTIFACT,
                    {**key, "mime": mime, "size": art.size, "created_at": utcnow()},
                )
