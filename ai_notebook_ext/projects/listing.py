"""Block lists served from a cache of serialized pages, checked on every request.

Listing a 200-block project through the ORM and pydantic costs milliseconds of CPU per
request; most lists are of a project that has not changed since the last one. A page's
answer (the JSON bytes) is kept with a fingerprint of the project's blocks: the ``id``,
``position``, ``version`` and ``last_run_id`` of every block, in order. Every change to a
block changes that: edits bump ``version`` (kind, source, timeout, ``updated_at`` change
only with it), moves change positions, runs change ``last_run_id``, creations add ids
(never reused), deletions remove them.

Each request reads the fingerprint (one narrow query, in the transaction that checks the
caller's role) and uses the cached page only when it matches, so the cache cannot serve
stale data whoever changed the blocks: this server, another server on the same
PostgreSQL, or a migration. There is nothing to invalidate. The fingerprint is also the
page's ETag: a client that sends it back in ``If-None-Match`` gets a 304.

A miss reads the blocks and derives the fingerprint from the very rows it serializes, so
a cached page always matches its key.
"""

from __future__ import annotations

import asyncio
import hashlib
from array import array
from collections import OrderedDict
from itertools import chain
from typing import Any

from sqlalchemy import and_, bindparam, select

from ..errors import NotFound
from ..store import Database
from ..store.fast import fast
from ..store.models import Block, Membership, Project
from .access import require
from .schemas import BlockOut, Page
from .users import Actor

# One statement (one round trip, one snapshot): the caller's role as a column of every
# row, the project's blocks as rows; one row of NULL blocks for a project without any,
# none for a missing project. The role is joined (one index lookup), not a correlated
# subquery, which SQLite evaluates again for every block row.
_FINGERPRINT = fast(
    select(Membership.role, Block.id, Block.position, Block.version, Block.last_run_id)
    .select_from(Project)
    .outerjoin(
        Membership,
        and_(Membership.project_id == Project.id, Membership.user_id == bindparam("user_id")),
    )
    .outerjoin(Block, Block.project_id == Project.id)
    .where(Project.id == bindparam("project_id"))
    .order_by(Block.position, Block.id)
)


def _etag(project_id: int, limit: int, offset: int, rows: list[tuple[Any, ...]]) -> str:
    # the rows' integers packed as 64-bit words (NULL: -1): half the time of hashing repr()
    flat = array("q", [-1 if v is None else v for v in chain.from_iterable(rows)])
    digest = hashlib.blake2b(flat.tobytes(), digest_size=12).hexdigest()
    return f'"b{project_id}.{limit}.{offset}.{digest}"'


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
        self._reading: dict[tuple[tuple[int, int, int], str], asyncio.Future[Any]] = {}

    async def page(
        self, actor: Actor, project_id: int, limit: int, offset: int, if_none_match: str | None
    ) -> tuple[str, bytes | None]:
        """The page's ETag and JSON, or its ETag and None when ``if_none_match`` names it.

        NotFound or Forbidden as the uncached list would raise them."""
        rows = await self._fingerprint(project_id, actor.id)
        role = rows[0][0] if rows else None
        if rows and role is None and actor.is_admin:
            role = "owner"
        if role is None:
            raise NotFound(f"project {project_id} not found", details={"project_id": project_id})
        require(role, "viewer", "reading blocks")
        rows = [row[1:] for row in rows if row[1] is not None]
        etag = _etag(project_id, limit, offset, rows)
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

    async def _fingerprint(self, project_id: int, user_id: int) -> list[tuple[Any, ...]]:
        """(role, block id, position, version, last_run_id) rows, in order."""
        params = {"project_id": project_id, "user_id": user_id}
        return (await self.db.read((_FINGERPRINT, params)))[0]

    async def _read(self, project_id: int, limit: int, offset: int) -> tuple[str, bytes]:
        async with self.db.session() as session:
            blocks = list(
                await session.scalars(
                    select(Block)
                    .where(Block.project_id == project_id)
                    .order_by(Block.position, Block.id)
                )
            )
        rows = [(b.id, b.position, b.version, b.last_run_id) for b in blocks]
        items = [BlockOut.model_validate(b) for b in blocks[offset : offset + limit]]
        page = Page[BlockOut](items=items, total=len(blocks), limit=limit, offset=offset)
        return _etag(project_id, limit, offset, rows), page.model_dump_json().encode()

    def _store(self, key: tuple[int, int, int], entry: tuple[str, bytes]) -> tuple[str, bytes]:
        self._pages[key] = entry
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
        return entry
