"""How a run ends, on record: outputs with their artifacts, the block's last run, the
fingerprint it ran with; then the status event. Persisted first, announced after.

``end`` is the ending step of a LiveRun: it records the end, hands what ``ain`` read and
wrote to the datasets layer, resolves the run's ``ended`` future (once), and only then
announces the end (metrics, log line, status event): a request waiting for the run
answers before that work, which is not on its way.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from sqlalchemy.exc import IntegrityError

from .. import metrics
from ..dag.service import block_fingerprint
from ..store import Database
from ..store.models import Run
from ..store.types import utcnow
from . import statements as sql
from .artifacts import ArtifactStore
from .displays import DisplayRegistry
from .live import LiveRun
from .outputs import StoredArtifact, externalize, storable
from .progress import RunEvents
from .schemas import RunOut

log = logging.getLogger(__name__)


def _mime(mime: str) -> str:
    """A mime type that fits the column; kernels may invent absurdly long ones."""
    return mime if len(mime) <= 255 else "application/octet-stream"


class RunEnding:
    """Stores the end of runs for the RunService (block runs and pipeline batches)."""

    def __init__(
        self, db: Database, artifacts: ArtifactStore, events: RunEvents, text_limit: int
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.events = events
        self.text_limit = text_limit
        # Display ids across runs: fed by the output events, told here when a run ended.
        self.displays = DisplayRegistry(db, artifacts, events, text_limit)
        events.displays = self.displays
        # async (run, reports): what ain read and wrote in a run; set by the datasets layer
        self.on_datasets: Any = None

    async def end(
        self,
        live: LiveRun,
        status: str,
        *,
        outputs: list[dict[str, Any]] | None = None,
        datasets: list[dict[str, Any]] = (),  # type: ignore[assignment]
        **end: Any,
    ) -> RunOut | None:
        """End a live run: outputs to artifacts, the record (see ``persist``), what ``ain``
        read and wrote; then whoever waits for it gets the run as it ended, and then the
        end is announced (a waiting request answers first: it is the critical path)."""
        stored: list[StoredArtifact] = []
        if outputs:
            outputs, stored = await self.outputs(outputs)
        final = await self.persist(
            live.run.id if live.run else 0,
            status,
            outputs=outputs,
            artifacts=stored,
            known=live.run,
            **end,
        )
        if datasets and live.run is not None:
            await self._datasets(live.run, datasets)
        live.end(final)
        if final is not None:
            self.announce(final)
        return final

    async def fail(self, live: LiveRun, exc: Exception) -> None:
        """The server failed handling a live run: it ends failed all the same."""
        if live.run is not None:
            live.end(await self.record_failure(live.run.id, exc))
        live.end(None)

    async def _datasets(self, run: RunOut, reports: list[dict[str, Any]]) -> None:
        """Hand what ``ain`` read and wrote to the datasets layer (lineage, versions)."""
        if self.on_datasets is None:
            return
        try:
            await self.on_datasets(run, reports)
        except Exception:
            log.exception("ai_notebook_ext: recording the datasets of run %s", run.id)

    async def outputs(
        self, outputs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[StoredArtifact]]:
        """Outputs with binary data and long text moved to artifacts (off the loop)."""
        if not outputs:
            return outputs, []
        return await asyncio.to_thread(externalize, outputs, self.artifacts.put, self.text_limit)

    async def fingerprint(
        self, project_id: int, run: RunOut, expected: tuple[str, str] | None = None
    ) -> str | None:
        """The block's fingerprint with the code this run executes (None if it cannot be
        computed: the run is then never fresh, which is safe). ``expected``: a (source,
        fingerprint) the caller computed, used if the run has that source."""
        if run.block_id is None:
            return None
        if expected is not None and expected[0] == run.source:
            return expected[1]
        try:
            return await block_fingerprint(self.db, project_id, run.block_id, run.source)
        except Exception:
            log.exception("ai_notebook_ext: fingerprint of run %s", run.id)
            return None

    async def record(self, run_id: int, status: str, **end: Any) -> RunOut | None:
        """Persist the end of a run, then announce it; the run as it ended (None if it
        had ended already or does not exist). Arguments as ``persist``."""
        final = await self.persist(run_id, status, **end)
        if final is not None:
            self.announce(final)
        return final

    def announce(self, final: RunOut) -> None:
        """Count, log and publish the end of a run that is on record."""
        metrics.run_ended(final.status, final.started_at, final.finished_at)
        log.info("run %s of block %s ended %s", final.id, final.block_id, final.status)
        self.events.status(
            final.project_id,
            final.id,
            final.block_id,
            final.status,
            final.execution_count,
            final.message,
            final.error,
            pipeline_id=final.parent_id,
        )

    async def persist(
        self,
        run_id: int,
        status: str,
        *,
        outputs: list[dict[str, Any]] | None = None,
        error: dict[str, Any] | None = None,
        message: str = "",
        execution_count: int | None = None,
        artifacts: list[StoredArtifact] = (),  # type: ignore[assignment]
        generation: int | None = None,
        known: RunOut | None = None,
        fingerprint: str | None = None,
    ) -> RunOut | None:
        """Persist the end of a run; the run as it ended (None if it had ended already or
        does not exist). Its display updates are stored before it returns.

        ``known`` is the run as the caller already has it: then no row is read back.
        """
        params: dict[str, Any] = {
            "run_id": run_id,
            "status": status,
            "finished_at": utcnow(),
            "message": storable(message),
            "error": storable(error),
            "execution_count": execution_count,
            "generation": generation,
            "fingerprint": fingerprint,
        }
        if known is None:
            async with self.db.session() as session:
                row = await session.get(Run, run_id)
                if row is None:
                    return None
                known = RunOut.model_validate(row)
        params["outputs"] = storable(outputs) if outputs is not None else known.outputs
        # Each statement commits on its own on PostgreSQL (``Database.autocommit``): the
        # run's end is the one that counts; its artifacts and the block's last run follow.
        async with self.db.autocommit() as conn:
            if not (await conn.execute(sql.FINISH_RUN, params)).rowcount:
                self.displays.gone(run_id)
                return None  # already ended (e.g. cancelled while stopping)
            for art in {a.sha256: a for a in artifacts}.values():
                key = {"project_id": known.project_id, "sha256": art.sha256}
                if (await conn.execute(sql.ARTIFACT_EXISTS, key)).first() is None:
                    row = {**key, "mime": _mime(art.mime), "size": art.size}
                    # another run may store the same bytes meanwhile: theirs is as good
                    with suppress(IntegrityError):
                        await conn.execute(sql.INSERT_ARTIFACT, {**row, "created_at": utcnow()})
            if known.block_id is not None:
                await conn.execute(sql.SET_LAST_RUN, {"block_id": known.block_id, "run_id": run_id})
        update = {k: v for k, v in params.items() if k not in ("run_id", "generation")}
        if generation is not None:
            update["kernel_generation"] = generation
        final = known.model_copy(update=update)
        await self.displays.ended(final)  # its display updates stored, its ids targets
        return final

    async def record_failure(self, run_id: int, exc: Exception) -> RunOut | None:
        """The server itself failed handling the run: it ends failed all the same."""
        message = (
            f"the server failed while handling this run ({type(exc).__name__}); "
            "its log has the details"
        )
        error = {"ename": "InternalError", "evalue": message, "traceback": [], "reason": "internal"}
        try:
            return await self.record(run_id, "failed", message=message, error=error)
        except Exception:
            log.exception("ai_notebook_ext: recording the failure of run %s", run_id)
        try:  # the bare minimum, so the run does not stay running forever
            async with self.db.connection() as conn:
                params = {"run_id": run_id, "status": "failed", "finished_at": utcnow()}
                params |= {"message": message, "error": error, "execution_count": None}
                await conn.execute(
                    sql.FINISH_RUN,
                    {**params, "outputs": [], "generation": None, "fingerprint": None},
                )
        except Exception:
            log.exception("ai_notebook_ext: run %s could not be marked failed", run_id)
        return None
