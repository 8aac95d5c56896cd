"""AsyncSession's interface over a synchronous Session, run on the event loop's thread.

Used for SQLite: a local database file answers in microseconds, while aiosqlite hands every
cursor call to a thread (about 40 hand-offs for one block execution). Running the same ORM
code inline makes a transaction one uninterrupted step of the event loop, which also means
transactions of one server never interleave, so SQLite's single writer never waits on us.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session, SessionTransaction

from . import fast


class _Nested:
    """``async with session.begin_nested():`` over a sync savepoint."""

    def __init__(self, transaction: SessionTransaction) -> None:
        self.transaction = transaction

    async def __aenter__(self) -> SessionTransaction:
        return self.transaction.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.transaction.__exit__(exc_type, exc, tb)


class InlineConnection:
    """An awaitable ``execute`` over a sync connection, for Core statements; statements
    marked ``fast`` run on the DBAPI cursor (``fast.py``)."""

    def __init__(self, connection: Any) -> None:
        self.sync_connection = connection

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        if isinstance(parameters, dict) and not kwargs and fast.is_fast(statement):
            return fast.execute(self.sync_connection, statement, parameters)
        return self.sync_connection.execute(statement, parameters, **kwargs)


class InlineSession:
    """The subset of AsyncSession our services use, executed synchronously."""

    def __init__(self, session: Session) -> None:
        self.sync_session = session

    def add(self, instance: object) -> None:
        self.sync_session.add(instance)

    def add_all(self, instances: Iterable[object]) -> None:
        self.sync_session.add_all(instances)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.get(*args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.scalars(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        self.sync_session.flush(*args, **kwargs)

    async def delete(self, instance: object) -> None:
        self.sync_session.delete(instance)

    async def refresh(self, instance: object, *args: Any, **kwargs: Any) -> None:
        self.sync_session.refresh(instance, *args, **kwargs)

    def begin_nested(self) -> _Nested:
        return _Nested(self.sync_session.begin_nested())
