"""Projects: create, list, read, update, delete, with role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..events.feed import ProjectFeed
from ..store import Database
from ..store.models import Membership, Project, User
from ..store.types import utcnow
from .access import authorize
from .schemas import Page, ProjectCreate, ProjectOut, ProjectUpdate
from .users import Actor


async def _owner_names(session: AsyncSession, owner_ids: set[int]) -> dict[int, str]:
    if not owner_ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(owner_ids)))
    return {uid: name for uid, name in rows}


def working_dir_for(project_id: int, stored: str | None) -> str:
    """A project's kernel working folder, relative to the server's root dir."""
    return stored or f"ai-notebook/project-{project_id}"


def working_dir(project: Project) -> str:
    return working_dir_for(project.id, project.working_dir)


def _out(project: Project, owner: str, role: str) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        owner=owner,
        role=role,  # type: ignore[arg-type]
        working_dir=working_dir(project),
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


async def project_out(session: AsyncSession, project: Project, role: str) -> ProjectOut:
    """The project as the API shows it to a caller with ``role``."""
    owners = await _owner_names(session, {project.owner_id})
    return _out(project, owners.get(project.owner_id, ""), role)


async def new_project(session: AsyncSession, actor: Actor, data: ProjectCreate) -> ProjectOut:
    """Insert a project owned by ``actor`` (inside the caller's transaction)."""
    now = utcnow()
    project = Project(
        name=data.name,
        description=data.description,
        working_dir=data.working_dir,
        owner_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    await session.flush()
    session.add(Membership(project_id=project.id, user_id=actor.id, role="owner"))
    return _out(project, actor.username, "owner")


class ProjectService:
    """Business rules of projects; every method checks the caller's role. Renames and
    deletes are announced to the project's members (``feed``)."""

    def __init__(self, db: Database, feed: ProjectFeed | None = None) -> None:
        self.db = db
        self.feed = feed or ProjectFeed()
        # async (project id, working folder), awaited after a delete: what the server holds
        # for the project goes (execution/teardown.py)
        self.on_deleted: list[Callable[[int, str], Awaitable[None]]] = []

    async def create(self, actor: Actor, data: ProjectCreate) -> ProjectOut:
        async with self.db.session() as session:
            return await new_project(session, actor, data)

    async def list(self, actor: Actor, limit: int, offset: int) -> Page[ProjectOut]:
        """Projects the caller is a member of (all projects for admins), newest first."""
        async with self.db.session() as session:
            if actor.is_admin:
                query = select(Project, func.coalesce(Membership.role, "owner")).outerjoin(
                    Membership,
                    (Membership.project_id == Project.id) & (Membership.user_id == actor.id),
                )
            else:
                query = select(Project, Membership.role).join(
                    Membership,
                    (Membership.project_id == Project.id) & (Membership.user_id == actor.id),
                )
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (
                await session.execute(
                    query.order_by(Project.updated_at.desc(), Project.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
            owners = await _owner_names(session, {p.owner_id for p, _ in rows})
            items = [_out(p, owners.get(p.owner_id, ""), role) for p, role in rows]
            return Page[ProjectOut](items=items, total=total or 0, limit=limit, offset=offset)

    async def get(self, actor: Actor, project_id: int) -> ProjectOut:
        async with self.db.session() as session:
            project, role = await authorize(session, actor, project_id, "viewer", "reading")
            owners = await _owner_names(session, {project.owner_id})
            return _out(project, owners.get(project.owner_id, ""), role)

    async def update(self, actor: Actor, project_id: int, data: ProjectUpdate) -> ProjectOut:
        out = await self._update(actor, project_id, data)
        self.feed.project_changed(project_id, out, actor.username)
        return out

    async def _update(self, actor: Actor, project_id: int, data: ProjectUpdate) -> ProjectOut:
        async with self.db.session() as session:
            project, role = await authorize(
                session, actor, project_id, "editor", "changing the project"
            )
            if data.name is not None:
                project.name = data.name
            if data.description is not None:
                project.description = data.description
            if data.working_dir is not None:
                project.working_dir = data.working_dir
            project.updated_at = utcnow()
            owners = await _owner_names(session, {project.owner_id})
            return _out(project, owners.get(project.owner_id, ""), role)

    async def delete(self, actor: Actor, project_id: int) -> None:
        async with self.db.session() as session:
            project, _ = await authorize(
                session, actor, project_id, "owner", "deleting the project"
            )
            folder = working_dir(project)
            # Memberships and blocks go with it (ON DELETE CASCADE on both backends).
            await session.execute(delete(Project).where(Project.id == project_id))
        self.feed.project_deleted(project_id, actor.username)
        for hook in self.on_deleted:
            await hook(project_id, folder)
