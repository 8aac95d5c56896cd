"""Schedules of a project: CRUD with role checks, validation, next run times.

Viewers list and read schedules; editors create, change and delete them. A schedule
runs as the user who created it (checked again at every firing: a creator who is no
longer an editor makes the firing fail, noted in ``last_error``). Every change wakes the
scheduler, which then sleeps until the new earliest time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import BadRequest, NotFound
from ..projects.access import authorize
from ..projects.users import Actor
from ..store import Block, Database, User
from ..store.schedule_models import Schedule
from ..store.types import utcnow
from .cron import CronError, check_cron, next_time, zone
from .schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate

NOT_NULL = ("cron", "target", "timezone", "enabled")


def _out(row: Schedule, creator: str | None) -> ScheduleOut:
    fields = {name: getattr(row, name) for name in ScheduleOut.model_fields}
    return ScheduleOut.model_validate({**fields, "created_by": creator})


def _checked(cron: str, timezone: str) -> str:
    """The normalized cron; 400 naming the field when the cron or time zone is unusable."""
    try:
        zone(timezone)
    except CronError as exc:
        raise BadRequest(str(exc), details={"field": "timezone"}) from None
    try:
        return check_cron(cron)
    except CronError as exc:
        raise BadRequest(str(exc), details={"field": "cron"}) from None


async def _check_target(
    session: AsyncSession, project_id: int, target: str, block_id: int | None
) -> None:
    """target block names a code block of this project; target pipeline names none."""
    if target == "pipeline":
        if block_id is not None:
            raise BadRequest(
                "target 'pipeline' runs every block and takes no block_id; use target "
                "'block' to run one block",
                details={"field": "block_id"},
            )
        return
    if block_id is None:
        raise BadRequest("target 'block' needs a block_id", details={"field": "block_id"})
    kind = await session.scalar(
        select(Block.kind).where(Block.id == block_id, Block.project_id == project_id)
    )
    if kind is None:
        raise BadRequest(
            f"block {block_id} is not a block of this project",
            details={"field": "block_id", "block_id": block_id},
        )
    if kind != "code":
        raise BadRequest(
            f"block {block_id} is a {kind} block; only code blocks run",
            details={"field": "block_id", "block_id": block_id},
        )


class ScheduleService:
    """Schedule CRUD; ``changed`` is called after every commit (the scheduler's wake)."""

    def __init__(self, db: Database, changed: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.changed = changed

    async def list(self, actor: Actor, project_id: int) -> list[ScheduleOut]:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading schedules")
            rows = await session.execute(
                select(Schedule, User.username)
                .outerjoin(User, User.id == Schedule.created_by)
                .where(Schedule.project_id == project_id)
                .order_by(Schedule.id)
            )
            return [_out(row, name) for row, name in rows]

    async def get(self, actor: Actor, project_id: int, schedule_id: int) -> ScheduleOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading schedules")
            row = await self._row(session, project_id, schedule_id)
            return _out(row, await self._username(session, row.created_by))

    async def create(self, actor: Actor, project_id: int, data: ScheduleCreate) -> ScheduleOut:
        cron = _checked(data.cron, data.timezone)
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "creating schedules")
            await _check_target(session, project_id, data.target, data.block_id)
            now = utcnow()
            row = Schedule(
                project_id=project_id,
                cron=cron,
                timezone=data.timezone,
                target=data.target,
                block_id=data.block_id,
                enabled=data.enabled,
                created_by=actor.id,
                next_run_at=next_time(cron, data.timezone, now) if data.enabled else None,
                last_error="",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            out = _out(row, actor.username)
        self.changed()
        return out

    async def update(
        self, actor: Actor, project_id: int, schedule_id: int, data: ScheduleUpdate
    ) -> ScheduleOut:
        changes: dict[str, Any] = data.model_dump(exclude_unset=True)
        for name in NOT_NULL:
            if name in changes and changes[name] is None:
                raise BadRequest(f"field {name!r} may not be null", details={"field": name})
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "changing schedules")
            row = await self._row(session, project_id, schedule_id)
            if changes.get("target") == "pipeline" and "block_id" not in changes:
                changes["block_id"] = None
            merged = {
                k: changes.get(k, getattr(row, k))
                for k in ("cron", "timezone", "target", "block_id", "enabled")
            }
            merged["cron"] = _checked(merged["cron"], merged["timezone"])
            await _check_target(session, project_id, merged["target"], merged["block_id"])
            timing = any(merged[k] != getattr(row, k) for k in ("cron", "timezone", "enabled"))
            now = utcnow()
            if timing:  # a new cron, zone or enabling counts from now: nothing is missed
                merged["next_run_at"] = (
                    next_time(merged["cron"], merged["timezone"], now)
                    if merged["enabled"]
                    else None
                )
            for key, value in merged.items():
                setattr(row, key, value)
            row.updated_at = now
            await session.flush()
            out = _out(row, await self._username(session, row.created_by))
        self.changed()
        return out

    async def delete(self, actor: Actor, project_id: int, schedule_id: int) -> None:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", "deleting schedules")
            row = await self._row(session, project_id, schedule_id)
            await session.delete(row)
        self.changed()

    @staticmethod
    async def _row(session: AsyncSession, project_id: int, schedule_id: int) -> Schedule:
        row = await session.scalar(
            select(Schedule).where(Schedule.id == schedule_id, Schedule.project_id == project_id)
        )
        if row is None:
            raise NotFound(
                f"schedule {schedule_id} not found", details={"schedule_id": schedule_id}
            )
        return row

    @staticmethod
    async def _username(session: AsyncSession, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        return await session.scalar(select(User.username).where(User.id == user_id))
