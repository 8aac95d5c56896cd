"""Users as this server knows them: mirrored from Jupyter identities on first sight."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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


@dataclass
class ActorCache:
    """Recently seen callers, so most requests need no user lookup in the database.

    An entry is used only while the identity's display name is unchanged and for ``ttl``
    seconds; the user row is refreshed after that.
    """

    ttl: float = 60.0
    _entries: dict[str, tuple[Actor, float]] = field(default_factory=dict)

    def get(self, username: str, display_name: str) -> Actor | None:
        entry = self._entries.get(username)
        if entry is None:
            return None
        actor, expires = entry
        if expires < time.monotonic() or (display_name and display_name != actor.display_name):
            del self._entries[username]
            return None
        return actor

    def put(self, actor: Actor) -> None:
        if len(self._entries) > 10_000:  # a bound, not an LRU: big servers just refill
            self._entries.clear()
        self._entries[actor.username] = (actor, time.monotonic() + self.ttl)
