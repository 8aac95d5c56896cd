"""Project-role checks: viewers read, editors write blocks, owners manage members.

A caller who is not a member gets NotFound, the same answer as for a project that does
not exist, so project ids leak nothing. Admins act as owners of every project.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import Forbidden, NotFound
from ..store.models import Membership, Project
from .users import Actor

ROLE_RANK = {"viewer": 1, "editor": 2, "owner": 3}


async def caller_role(
    session: AsyncSession, actor: Actor, project_id: int, *, lock: bool = False
) -> tuple[Project, str]:
    """The project and the caller's role in it; NotFound if the caller may not see it.

    ``lock`` takes a row lock on the project (PostgreSQL) to serialize structural changes.
    """
    query = select(Project).where(Project.id == project_id)
    if lock:
        query = query.with_for_update()
    project = await session.scalar(query)
    if project is not None:
        role = await session.scalar(
            select(Membership.role).where(
                Membership.project_id == project_id, Membership.user_id == actor.id
            )
        )
        if role is None and actor.is_admin:
            role = "owner"
        if role is not None:
            return project, role
    raise NotFound(f"project {project_id} not found", details={"project_id": project_id})


def require(role: str, minimum: str, action: str) -> None:
    """Raise Forbidden unless ``role`` is at least ``minimum``."""
    if ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise Forbidden(
            f"{action} needs the {minimum} role in this project; you are {role}",
            details={"required_role": minimum, "role": role},
        )


async def authorize(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    minimum: str,
    action: str,
    *,
    lock: bool = False,
) -> tuple[Project, str]:
    """The project and role of a caller who holds at least ``minimum``."""
    project, role = await caller_role(session, actor, project_id, lock=lock)
    require(role, minimum, action)
    return project, role
