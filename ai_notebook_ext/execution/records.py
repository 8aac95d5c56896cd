"""Block runs on record: the row written when a run is submitted, and runs read back.

The plain path: check the caller and the block, insert a ``queued`` run with a snapshot
of the code. ``FastPath`` (fastpath.py) is the one place where the hot path departs from
it: the code may already be in the kernel, and the run is then written ``running``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..errors import BadRequest, NotFound
from ..projects.access import authorize, require
from ..projects.blocks import get_block
from ..projects.schemas import Page
from ..projects.service import working_dir_for
from ..projects.users import Actor
from ..store import Database
from ..store.models import Run, User
from ..store.types import utcnow
from . import statements as sql
from .fastpath import FastPath
from .live import LiveRun
from .schemas import RunOut


async def project_run(session: Any, project_id: int, run_id: int) -> Run:
    """The run, if it belongs to the project (NotFound otherwise)."""
    run = await session.get(Run, run_id)
    if run is None or run.project_id != project_id:
        raise NotFound(f"run {run_id} not found in project {project_id}")
    return run


FOREIGN_KEY_VIOLATION = "23503"  # PostgreSQL's SQLSTATE


class RunRecords:
    """Writes new block runs and reads runs back."""

    def __init__(
        self,
        db: Database,
        fast: FastPath,
        default_timeout: float | None,
        server_id: str | None = None,
    ) -> None:
        self.db = db
        self.fast = fast
        self.default_timeout = default_timeout
        self.server_id = server_id  # the server owning the runs it writes (servers/)

    async def create(
        self,
        live: LiveRun,
        actor: Actor,
        block_id: int,
        parent_id: int | None = None,
        running: bool = False,
    ) -> RunOut:
        """Check the caller and the block and insert the run in one transaction; the run
        as written is also ``live.run``. ``running``: the caller executes it itself (a
        pipeline batch)."""
        project_id = live.project_id
        now = utcnow()
        try:
            # No transaction around the check and the insert (on PostgreSQL each commits
            # on its own): a block or project deleted in between fails the insert's
            # foreign key, which is the 404 below.
            async with self.db.autocommit() as conn:
                row = await self._block(conn, actor, project_id, block_id)
                if row is None:
                    raise _Missing
                values: dict[str, Any] = {
                    "project_id": project_id,
                    "block_id": block_id,
                    "user_id": actor.id,
                    "status": "queued",
                    "source": row.source,
                    "block_version": row.version,
                    "timeout_seconds": row.timeout_seconds or self.default_timeout,
                    "outputs": [],
                    "message": "",
                    "queued_at": now,
                    "server_id": self.server_id,
                }
                if parent_id is not None:
                    values["parent_id"] = parent_id
                if running:  # a held run: with the code its caller runs, if it says
                    values |= {"status": "running", "started_at": now}
                    if live.source is not None:
                        values["source"] = live.source
                else:  # the fast path: the code may go to the kernel before the insert
                    values |= self.fast.before_insert(live, row.source, now)
                try:
                    run_id = (await conn.execute(sql.INSERT_RUN, values)).scalar_one()
                except IntegrityError as exc:
                    if getattr(exc.orig, "sqlstate", None) != FOREIGN_KEY_VIOLATION:
                        raise
                    raise _Missing from exc
        except BaseException as exc:
            await self.fast.unsend(live)  # no record of the code: stop it
            if not isinstance(exc, _Missing):
                raise
            async with self.db.session() as session:  # the precise 404 (or 403)
                await authorize(session, actor, project_id, "viewer", "running blocks")
                await get_block(session, project_id, block_id)
            raise NotFound(f"block {block_id} not found in project {project_id}") from None
        live.run = RunOut(
            id=run_id,
            execution_count=None,
            error=None,
            finished_at=None,
            **({"kernel_generation": None, "started_at": None} | values),  # type: ignore[arg-type]
        )
        live.project_name = row.name
        live.working_dir = working_dir_for(project_id, row.working_dir)
        return live.run

    async def snapshot(self, actor: Actor, project_id: int, block_id: int) -> str:
        """The block's current code, for a caller that may run it (checked as ``create``)."""
        return (await self.code(actor, project_id, block_id))[0]

    async def code(self, actor: Actor, project_id: int, block_id: int) -> tuple[str, float]:
        """The block's current code and time limit, for a caller that may run it."""
        async with self.db.connection() as conn:
            row = await self._block(conn, actor, project_id, block_id)
        if row is None:
            raise NotFound(f"block {block_id} not found in project {project_id}")
        return str(row.source), row.timeout_seconds or self.default_timeout

    @staticmethod
    async def _block(conn: Any, actor: Actor, project_id: int, block_id: int) -> Any:
        """The block row with its project and the caller's role; None when the caller or
        the block is not found; raises when the caller may not run it."""
        ids = {"block_id": block_id, "project_id": project_id, "user_id": actor.id}
        row = (await conn.execute(sql.BLOCK_FOR_RUN, ids)).first()
        role = (row.role or ("owner" if actor.is_admin else None)) if row else None
        if row is None or role is None:
            return None
        require(role, "editor", "running blocks")
        if row.kind != "code":
            raise BadRequest(
                f"block {block_id} is a {row.kind} block; only code blocks run",
                details={"block_id": block_id, "kind": row.kind},
            )
        return row

    async def mark_running(self, run: RunOut, generation: int) -> RunOut:
        """The worker sent the code: the run is running (written while the kernel works)."""
        started = utcnow()
        async with self.db.autocommit() as conn:
            params = {"run_id": run.id, "started_at": started, "generation": generation}
            await conn.execute(sql.MARK_RUNNING, params)
        return run.model_copy(update={"started_at": started})

    async def get(self, actor: Actor, project_id: int, run_id: int) -> RunOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading runs")
            return RunOut.model_validate(await project_run(session, project_id, run_id))

    async def read(self, run_id: int) -> RunOut:
        """A run as stored (no role check)."""
        async with self.db.session() as session:
            run = await session.get(Run, run_id)
            if run is None:
                raise NotFound(f"run {run_id} not found")
            return RunOut.model_validate(run)

    async def list(
        self,
        actor: Actor,
        project_id: int,
        limit: int,
        offset: int,
        block_id: int | None = None,
        status: str | None = None,
        kind: str | None = None,
    ) -> Page[RunOut]:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading runs")
            query = select(Run).where(Run.project_id == project_id)
            if block_id is not None:
                query = query.where(Run.block_id == block_id)
            if status is not None:
                query = query.where(Run.status == status)
            if kind is not None:
                query = query.where(Run.kind == kind)
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = list(
                await session.scalars(query.order_by(Run.id.desc()).limit(limit).offset(offset))
            )
            # Who ran what (the run history shows it): one query for the page's users.
            user_ids = {r.user_id for r in rows if r.user_id is not None}
            users = await session.execute(
                select(User.id, User.username).where(User.id.in_(user_ids))
            )
            names: dict[int, str] = {uid: name for uid, name in users}
            items = [
                RunOut.model_validate(r).model_copy(update={"username": names.get(r.user_id)})
                for r in rows
            ]
            return Page[RunOut](items=items, total=total or 0, limit=limit, offset=offset)


class _Missing(Exception):
    """The block or the caller's membership was not found (the 404 is made outside)."""
