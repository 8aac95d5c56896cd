"""The link between project kernels and datasets.

- ``setup_code``: what a project kernel runs silently when it starts, so ``ain`` knows
  its project and the blob storage (never the database).
- ``record``: what ``ain`` reported during a block run (iopub ``ai_notebook_dataset``
  messages collected by the runner) becomes lineage; writes become versions, after the
  server has checked the blob and read its schema itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from ..execution.schemas import RunOut
from ..store import Database
from ..store.dataset_models import Dataset, DatasetVersion
from ..store.models import Run
from . import worker
from .blobs import blob_lock
from .formats import FormatError
from .incoming import Incoming
from .lineage import LineageService
from .profiles import profile_quietly
from .schemas import DATASET_NAME
from .service import DatasetService
from .storage import HEX64

log = logging.getLogger(__name__)


class KernelLink:
    """Kernel setup and the recording of what kernels read and wrote."""

    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        lineage: LineageService,
        storage_options: dict[str, Any],
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.lineage = lineage
        self.storage_options = storage_options

    def setup_code(self, project_id: int) -> str:
        settings = {
            "project_id": project_id,
            "storage_url": self.datasets.store.url,
            "storage_options": self.storage_options,
        }
        payload = json.dumps(json.dumps(settings))
        return (
            "import json as _j, ai_notebook_ext.kernel.datasets as _d\n"
            f"_d.configure(_j.loads({payload}))\n"
            "del _j, _d"
        )

    async def record(self, run: RunOut, reports: list[dict[str, Any]]) -> None:
        for report in reports:
            blob, name = report.get("blob"), report.get("name")
            if not isinstance(blob, str) or not HEX64.match(blob) or not isinstance(name, str):
                continue
            try:
                name = DATASET_NAME.validate_python(name)
            except ValidationError:
                log.warning("ai_notebook_ext: run %s reported an invalid dataset name", run.id)
                continue
            if report.get("op") == "read":
                version_id = await self._version_id(run.project_id, name, blob)
                if version_id is not None:
                    await self.lineage.record(run.id, version_id, "read")
            elif report.get("op") == "write":
                await self._write(run, name, blob)

    async def _version_id(self, project_id: int, name: str, blob: str) -> int | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(DatasetVersion.id)
                .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                .where(
                    Dataset.project_id == project_id,
                    Dataset.name == name,
                    DatasetVersion.blob == blob,
                )
                .order_by(DatasetVersion.number.desc())
                .limit(1)
            )

    async def _write(self, run: RunOut, name: str, blob: str) -> None:
        async with self.datasets.locks.hold(blob_lock(blob)):  # no cleanup in between
            await self._write_locked(run, name, blob)

    async def _write_locked(self, run: RunOut, name: str, blob: str) -> None:
        store = self.datasets.store
        if not await asyncio.to_thread(store.exists, blob):
            log.warning("ai_notebook_ext: run %s reported a blob that is not stored", run.id)
            return
        try:
            schema = await worker.run(
                worker.read_blob, store.url, store.options, blob, "parquet", lane=run.project_id
            )
            size = await asyncio.to_thread(store.size, blob)
        except (FormatError, worker.WorkerDied) as exc:
            log.warning("ai_notebook_ext: run %s wrote an unreadable dataset: %s", run.id, exc)
            return
        async with self.db.session() as session:
            user_id = await session.scalar(select(Run.user_id).where(Run.id == run.id))
        incoming = Incoming("", blob, size, f"{name}.parquet", "parquet", "kernel")
        out = await self.datasets.record_version(
            None, run.project_id, name, incoming, schema, user_id=user_id
        )
        await self.lineage.record(run.id, out.version.id, "write")
        if out.created:
            await profile_quietly(self.db, store, blob, "parquet", lane=run.project_id)
