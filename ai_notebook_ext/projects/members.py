"""Project members: list, add, change role, remove, with the last-owner rule."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import Conflict, NotFound
from ..events.feed import ProjectFeed
from ..store import Database
from ..store.models import Membership, User
from ..store.types import utcnow
from .access import authorize
from .locks import KeyedLocks
from .schemas import MemberAdd, MemberOut, MemberUpdate, Page
from .users import Actor, get_or_create_user


def _out(user: User, membership: Membership) -> MemberOut:
    return MemberOut(
        username=user.username,
        display_name=user.display_name,
        role=membership.role,  # type: ignore[arg-type]
        created_at=membership.created_at,
    )


async def _membership(
    session: AsyncSession, project_id: int, username: str
) -> tuple[User, Membership]:
    row = (
        await session.execute(
            select(User, Membership)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.project_id == project_id, User.username == username)
        )
    ).first()
    if row is None:
        raise NotFound(
            f"{username!r} is not a member of project {project_id}",
            details={"username": username},
        )
    return row[0], row[1]


async def _ensure_another_owner(session: AsyncSession, project_id: int, user_id: int) -> None:
    owners = await session.scalar(
        select(func.count()).where(
            Membership.project_id == project_id,
            Membership.role == "owner",
            Membership.user_id != user_id,
        )
    )
    if not owners:
        raise Conflict(
            "a project needs at least one owner: make someone else owner first",
            details={"reason": "last_owner"},
        )


class MemberService:
    """Business rules of memberships: owners manage them, members may leave. Changes are
    announced to the project's members; a removed member's sockets close first."""

    def __init__(self, db: Database, locks: KeyedLocks, feed: ProjectFeed | None = None) -> None:
        self.db = db
        self.locks = locks
        self.feed = feed or ProjectFeed()

    async def list(self, actor: Actor, project_id: int, limit: int, offset: int) -> Page[MemberOut]:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "listing members")
            query = (
                select(User, Membership)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.project_id == project_id)
            )
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.execute(
                query.order_by(Membership.created_at, User.username).limit(limit).offset(offset)
            )
            items = [_out(u, m) for u, m in rows]
            return Page[MemberOut](items=items, total=total or 0, limit=limit, offset=offset)

    async def add(self, actor: Actor, project_id: int, data: MemberAdd) -> MemberOut:
        async with self.locks.hold(project_id):
            out = await self._add(actor, project_id, data)
            self.feed.members_changed(project_id, actor.username)
            return out

    async def _add(self, actor: Actor, project_id: int, data: MemberAdd) -> MemberOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "owner", "adding members", lock=True)
            user = await get_or_create_user(session, data.username)
            await session.flush()
            existing = await session.get(Membership, (project_id, user.id))
            if existing is not None:
                raise Conflict(
                    f"{data.username!r} is already a member ({existing.role}); "
                    "change the role with PATCH instead",
                    details={"username": data.username, "role": existing.role},
                )
            membership = Membership(
                project_id=project_id, user_id=user.id, role=data.role, created_at=utcnow()
            )
            session.add(membership)
            return _out(user, membership)

    async def update(
        self, actor: Actor, project_id: int, username: str, data: MemberUpdate
    ) -> MemberOut:
        async with self.locks.hold(project_id):
            out = await self._update(actor, project_id, username, data)
            self.feed.members_changed(project_id, actor.username, role=(out.username, out.role))
            return out

    async def _update(
        self, actor: Actor, project_id: int, username: str, data: MemberUpdate
    ) -> MemberOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "owner", "changing roles", lock=True)
            user, membership = await _membership(session, project_id, username)
            if membership.role == "owner" and data.role != "owner":
                await _ensure_another_owner(session, project_id, user.id)
            membership.role = data.role
            return _out(user, membership)

    async def remove(self, actor: Actor, project_id: int, username: str) -> None:
        async with self.locks.hold(project_id):
            await self._remove(actor, project_id, username)
            self.feed.members_changed(project_id, actor.username, removed=username)

    async def _remove(self, actor: Actor, project_id: int, username: str) -> None:
        async with self.db.session() as session:
            minimum = "viewer" if username == actor.username else "owner"
            await authorize(session, actor, project_id, minimum, "removing members", lock=True)
            user, membership = await _membership(session, project_id, username)
            if membership.role == "owner":
                await _ensure_another_owner(session, project_id, user.id)
            await session.delete(membership)
