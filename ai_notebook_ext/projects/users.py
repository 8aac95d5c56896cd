"""Users as this server knows them: mirrored from Jupyter identities on first sight."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..store.models import User


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of a service method."""

    id: int
    username: str
    display_name: str
    is_admin: bool


async def get_or_create_user(
    session: AsyncSession, username: str, display_name: str = "", *, role: str | None = None
) -> User:
    """The user row for ``username``, created if missing; ``role`` updates it when given.

    Concurrent first requests by the same user may race to insert: the loser re-reads.
    """
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        try:
            async with session.begin_nested():
                user = User(
                    username=username,
                    display_name=display_name or username,
                    role=role or "member",
                )
                session.add(user)
        except IntegrityError:
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:  # pragma: no cover - the row vanished between two statements
                raise
    if role is not None and user.role != role:
        user.role = role
    if display_name and user.display_name != display_name:
        user.display_name = display_name
    return user


async def actor_for(
    session: AsyncSession, username: str, display_name: str, *, is_admin: bool
) -> Actor:
    """Ensure the identity has a user row and return it as an Actor."""
    user = await get_or_create_user(
        session, username, display_name, role="admin" if is_admin else "member"
    )
    await session.flush()
    return Actor(user.id, user.username, user.display_name, user.role == "admin")
