"""Full HTML profile reports of dataset versions, made in the background.

A report runs in a worker process (report_worker.py), one at a time, so the profiling
library's memory never lands in the server. Progress is stored and sent as events; the
HTML is kept as a content-addressed artifact and served with a sandboxing
Content-Security-Policy, so JupyterLab can show it in a tab. A finished report of a
version is reused, not made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .. import metrics
from ..errors import NotFound
from ..events import DATASET_REPORT, Events
from ..execution.artifacts import ArtifactStore
from ..projects.access import authorize
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset, DatasetReport, DatasetVersion
from ..store.types import utcnow
from .lookup import allowed_dataset, version_of
from .schemas import ReportOut
from .storage import BlobStore

log = logging.getLogger(__name__)
REPORT_TIMEOUT = 3600.0  # seconds a report may take


class ReportService:
    """Starts report jobs, tracks them, serves their HTML."""

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        artifacts: ArtifactStore,
        events: Events,
        *,
        max_rows: int,
        minimal: bool = False,
    ) -> None:
        self.db = db
        self.store = store
        self.artifacts = artifacts
        self.events = events
        self.max_rows = max_rows
        self.minimal = minimal
        self._slot = asyncio.Semaphore(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._procs: set[asyncio.subprocess.Process] = set()

    async def start(self, actor: Actor, project_id: int, dataset_id: int, number: int) -> ReportOut:
        """Queue a report of a version (viewers may ask); an existing one is returned."""
        async with self.db.session() as session:
            dataset = await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "profiling datasets"
            )
            version = await version_of(session, dataset_id, number)
            existing = await session.scalar(
                select(DatasetReport)
                .where(
                    DatasetReport.version_id == version.id,
                    DatasetReport.status.in_(("queued", "running", "done")),
                )
                .order_by(DatasetReport.id.desc())
                .limit(1)
            )
            if existing is not None:
                return _out(existing, number)
            row = DatasetReport(
                version_id=version.id,
                status="queued",
                progress=0.0,
                message="waiting for its turn",
                created_by=actor.id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            job = {
                "report_id": row.id,
                "project_id": project_id,
                "dataset_id": dataset_id,
                "version": number,
                "blob": version.blob,
                "format": version.format,
                "read_options": dict(version.read_options or {}),
                "title": f"{dataset.name} v{number}",
            }
            out = _out(row, number)
        self._emit(job, "queued", 0.0, "waiting for its turn")
        task = asyncio.ensure_future(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return out

    async def get(
        self, actor: Actor, project_id: int, dataset_id: int, report_id: int
    ) -> ReportOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading dataset reports")
            row, number = await _report(session, project_id, dataset_id, report_id)
            return _out(row, number)

    async def html(self, actor: Actor, project_id: int, dataset_id: int, report_id: int) -> Path:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading dataset reports")
            row, _ = await _report(session, project_id, dataset_id, report_id)
        if row.status != "done" or row.artifact is None or not self.artifacts.exists(row.artifact):
            raise NotFound(f"report {report_id} has no HTML (it is {row.status})")
        return self.artifacts.path(row.artifact)

    async def stop(self) -> None:
        for proc in list(self._procs):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- the job ------------------------------------------------------------------------

    async def _run(self, job: dict[str, Any]) -> None:
        async with self._slot:
            await self._update(job, "running", 0.01, "starting")
            fd, out = tempfile.mkstemp(suffix=".html", prefix="ain-report-")
            os.close(fd)
            try:
                result = await self._work(job, out)
                if "error" in result:
                    await self._update(job, "failed", 1.0, result["error"])
                    return
                data = await asyncio.to_thread(Path(out).read_bytes)
                sha = await asyncio.to_thread(self.artifacts.put, data)
                sampled = result.get("sampled_rows")
                note = f"sampled {sampled:,} rows" if sampled else "all rows"
                await self._update(
                    job, "done", 1.0, f"done ({note})", artifact=sha, sampled=sampled
                )
            except asyncio.CancelledError:
                await asyncio.shield(self._update(job, "failed", 1.0, "the server stopped"))
                raise
            except Exception as exc:
                log.exception("ai_notebook_ext: dataset report %s", job["report_id"])
                await self._update(job, "failed", 1.0, f"the report could not be made: {exc}")
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(out)

    async def _work(self, job: dict[str, Any], out: str) -> dict[str, Any]:
        local = self.store.local_path(job["blob"], "." + job["format"])
        path = await asyncio.to_thread(local.__enter__)  # object stores download: a thread
        try:
            return await asyncio.wait_for(self._process(job, path, out), REPORT_TIMEOUT)
        except TimeoutError:
            return {"error": f"the report took longer than {REPORT_TIMEOUT:g} s and was stopped"}
        finally:
            await asyncio.to_thread(local.__exit__, None, None, None)

    async def _process(self, job: dict[str, Any], path: str, out: str) -> dict[str, Any]:
        settings = {
            "path": path,
            "format": job["format"],
            "read_options": job.get("read_options") or {},
            "out": out,
            "max_rows": self.max_rows,
            "title": job["title"],
            "minimal": self.minimal,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ai_notebook_ext.datasets.report_worker",
            json.dumps(settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._procs.add(proc)
        last: dict[str, Any] = {"error": "the report worker ended without a result"}
        try:
            assert proc.stdout is not None
            async for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "progress" in msg:
                    await self._update(job, "running", msg["progress"], msg.get("message", ""))
                else:
                    last = msg
            code = await proc.wait()
        finally:  # cancelled, timed out or failed: the worker never outlives its job
            self._procs.discard(proc)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if code != 0 and "error" not in last:
            last = {"error": f"the report worker exited with status {code}"}
        return last

    async def _update(
        self,
        job: dict[str, Any],
        status: str,
        progress: float,
        message: str,
        *,
        artifact: str | None = None,
        sampled: int | None = None,
    ) -> None:
        async with self.db.session() as session:
            row = await session.get(DatasetReport, job["report_id"])
            if row is None:
                return
            row.status, row.progress, row.message = status, round(progress, 3), message[:2000]
            if artifact is not None:
                row.artifact, row.sampled_rows = artifact, sampled
            if status in ("done", "failed"):
                row.finished_at = utcnow()
                metrics.REPORT_JOBS.labels(status).inc()
        self._emit(job, status, progress, message)

    def _emit(self, job: dict[str, Any], status: str, progress: float, message: str) -> None:
        self.events.emit(
            DATASET_REPORT,
            {
                "project_id": job["project_id"],
                "dataset_id": job["dataset_id"],
                "report_id": job["report_id"],
                "version": job["version"],
                "status": status,
                "progress": progress,
                "message": message[:500],
            },
        )


async def _report(
    session: Any, project_id: int, dataset_id: int, report_id: int
) -> tuple[DatasetReport, int]:
    found = (
        await session.execute(
            select(DatasetReport, DatasetVersion.number)
            .join(DatasetVersion, DatasetVersion.id == DatasetReport.version_id)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(
                DatasetReport.id == report_id,
                Dataset.id == dataset_id,
                Dataset.project_id == project_id,
            )
        )
    ).first()
    if found is None:
        raise NotFound(f"report {report_id} not found")
    return found[0], found[1]


def _out(row: DatasetReport, number: int) -> ReportOut:
    return ReportOut(
        id=row.id,
        version=number,
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        message=row.message,
        sampled_rows=row.sampled_rows,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
