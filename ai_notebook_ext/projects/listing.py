"""Block lists served from a cache of serialized pages, checked on every request.

Listing a 200-block project through the ORM and pydantic costs milliseconds of CPU per
request; most lists are of a project that has not changed since the last one. A page's
answer (the JSON bytes) is kept with the state of the project's blocks it was built from,
and used while that state is current. The state is one value that changes on every
insert, update or delete of one of the project's blocks, whoever makes it (this server,
another server on the same PostgreSQL, a script, a migration), read in one row:

- SQLite: ``projects.blocks_revision``, a new random value set by triggers on
  ``blocks`` (migration 0014). SQLite has one writer at a time, so the triggers' write
  to the project row cannot deadlock.
- PostgreSQL: the blocks' row versions, ``count`` and an md5 of every ``id:xmin`` (an
  UPDATE writes a new row version with a new ``xmin``), computed by the server. No
  trigger: on PostgreSQL a trigger writing the project row would take its row lock after
  the block row's, the opposite order of inserts and moves, and could deadlock them.
  A restore from a backup writes new row versions, so old ETags do not match restored
  blocks.

There is nothing to invalidate. The state is also in the page's ETag: a client that
sends it back in ``If-None-Match`` gets a 304. A miss reads the state and the blocks in
one snapshot, so a cached page always matches its key.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from ..errors import NotFound
from ..store import Database
from ..store.fast import fast
from ..store.models import Block, Membership, Project
from .access import require
from .schemas import BlockOut, Page
from .users import Actor

_ROLE = and_(Membership.project_id == Project.id, Membership.user_id == bindparam("user_id"))

# One row each: the caller's role (joined, NULL for a non-member) and the blocks' state;
# none for a missing project.
_SQLITE_STATE = fast(
    select(Membership.role, Project.blocks_revision)
    .select_from(Project)
    .outerjoin(Membership, _ROLE)
    .where(Project.id == bindparam("project_id"))
)
_row_version = func.concat(Block.id, ":", literal_column("blocks.xmin::text"))
_POSTGRESQL_STATE = (
    select(
        Membership.role,
        func.concat(
            func.count(Block.id),
            ".",
            func.md5(
                func.string_agg(_row_version, aggregate_order_by(literal_column("','"), Block.id))
            ),
        ),
    )
    .select_from(Project)
    .outerjoin(Membership, _ROLE)
    .outerjoin(Block, Block.project_id == Project.id)
    .where(Project.id == bindparam("project_id"))
    .group_by(Membership.role)
)


def _etag(project_id: int, limit: int, offset: int, state: int | str | None) -> str:
    if isinstance(state, int):
        state = f"{state & 0xFFFFFFFFFFFFFFFF:x}"
    return f'"b{project_id}.{limit}.{offset}.{state}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (or is ``*``)."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


class BlockPages:
    """Serialized block pages per (project, limit, offset), used while they match."""

    def __init__(self, db: Database, size: int = 256) -> None:
        self.db = db
        self.size = size
        self._pages: OrderedDict[tuple[int, int, int], tuple[str, bytes]] = OrderedDict()
        self._state = _POSTGRESQL_STATE if db.backend == "postgresql" else _SQLITE_STATE
        self._reading: dict[tuple[tuple[int, int, int], str], asyncio.Future[Any]] = {}

    async def page(
        self, actor: Actor, project_id: int, limit: int, offset: int, if_none_match: str | None
    ) -> tuple[str, bytes | None]:
        """The page's ETag and JSON, or its ETag and None when ``if_none_match`` names it.

        NotFound or Forbidden as the uncached list would raise them."""
        params = {"project_id": project_id, "user_id": actor.id}
        rows = (await self.db.read((self._state, params)))[0]
        role = rows[0][0] if rows else None
        if rows and role is None and actor.is_admin:
            role = "owner"
        if role is None:
            raise NotFound(f"project {project_id} not found", details={"project_id": project_id})
        require(role, "viewer", "reading blocks")
        etag = _etag(project_id, limit, offset, rows[0][1])
        if etag_matches(if_none_match, etag):
            return etag, None
        key = (project_id, limit, offset)
        cached = self._pages.get(key)
        if cached is not None and cached[0] == etag:
            self._pages.move_to_end(key)
            return cached
        reading = self._reading.get((key, etag))
        if reading is None:  # one read per page and state, however many ask at once
            reading = asyncio.ensure_future(self._read(project_id, limit, offset))
            self._reading[(key, etag)] = reading
            reading.add_done_callback(lambda _: self._reading.pop((key, etag), None))
        return self._store(key, await asyncio.shield(reading))

    async def _read(self, project_id: int, limit: int, offset: int) -> tuple[str, bytes]:
        async with self.db.session(snapshot=True) as session:
            ids = {"project_id": project_id, "user_id": 0}
            state = (await session.execute(self._state, ids)).first()
            blocks = list(
                await session.scalars(
                    select(Block)
                    .where(Block.project_id == project_id)
                    .order_by(Block.position, Block.id)
                )
            )
        items = [BlockOut.model_validate(b) for b in blocks[offset : offset + limit]]
        page = Page[BlockOut](items=items, total=len(blocks), limit=limit, offset=offset)
        etag = _etag(project_id, limit, offset, state[1] if state else None)
        return etag, page.model_dump_json().encode()

    def _store(self, key: tuple[int, int, int], entry: tuple[str, bytes]) -> tuple[str, bytes]:
        self._pages[key] = entry
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
        return entry
