"""Blocks: ordered CRUD, bulk insert and move, with optimistic concurrency.

Positions of a project's blocks are always 0..n-1. ``version`` guards a block's content
(kind and source): PATCH and DELETE must name the version the client saw, and a stale
one gets 409 with the current block. Moving blocks changes positions only, so it does
not bump versions (that would make every reorder conflict with concurrent edits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import BadRequest, Conflict, NotFound
from ..events.feed import ProjectFeed
from ..store import Database
from ..store.models import Block, Project
from ..store.types import utcnow
from .access import authorize
from .locks import KeyedLocks
from .schemas import (
    BlockBulkCreate,
    BlockCreate,
    BlockMove,
    BlockMoved,
    BlockOut,
    BlockSpec,
    BlockUpdate,
    OutputsClear,
    OutputsCleared,
    Page,
)
from .users import Actor


def _blocks_of(project_id: int) -> Select[tuple[Block]]:
    return select(Block).where(Block.project_id == project_id)


async def _count(session: AsyncSession, project_id: int) -> int:
    n = await session.scalar(select(func.count()).where(Block.project_id == project_id))
    return n or 0


async def get_block(session: AsyncSession, project_id: int, block_id: int) -> Block:
    block = await session.scalar(
        _blocks_of(project_id).where(Block.id == block_id).execution_options(populate_existing=True)
    )
    if block is None:
        raise NotFound(
            f"block {block_id} not found in project {project_id}",
            details={"block_id": block_id, "project_id": project_id},
        )
    return block


def _check_version(block: Block, version: int) -> None:
    if block.version != version:
        raise Conflict(
            f"block {block.id} changed since version {version} (now version {block.version}); "
            "reload it and apply your change again",
            details={"current": BlockOut.model_validate(block).model_dump(mode="json")},
        )


def _check_position(position: int, count: int, *, inserting: bool) -> None:
    upper = count if inserting else count - 1
    if position > upper:
        raise BadRequest(
            f"position: must be between 0 and {upper} for this project",
            details={"field": "position", "max": upper},
        )


async def _shift(
    session: AsyncSession, project_id: int, start: int, stop: int | None, by: int
) -> None:
    """Add ``by`` to the positions in [start, stop) (stop None: to the end)."""
    cond = [Block.project_id == project_id, Block.position >= start]
    if stop is not None:
        cond.append(Block.position < stop)
    await session.execute(
        update(Block).where(*cond).values(position=Block.position + by),
        execution_options={"synchronize_session": False},
    )


def _touch(project: Project) -> None:
    project.updated_at = utcnow()


class BlockService:
    """Business rules of blocks: viewers read, editors write. Every change is announced
    to the project's members once committed (``feed``)."""

    def __init__(self, db: Database, locks: KeyedLocks, feed: ProjectFeed | None = None) -> None:
        self.db = db
        self.locks = locks
        self.feed = feed or ProjectFeed()
        # async (project id, block id), after a block was deleted (its queued runs end)
        self.on_deleted: list[Callable[[int, int], Awaitable[None]]] = []

    async def list(self, actor: Actor, project_id: int, limit: int, offset: int) -> Page[BlockOut]:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading blocks")
            total = await _count(session, project_id)
            blocks = await session.scalars(
                _blocks_of(project_id).order_by(Block.position).limit(limit).offset(offset)
            )
            items = [BlockOut.model_validate(b) for b in blocks]
            return Page[BlockOut](items=items, total=total, limit=limit, offset=offset)

    async def get(self, actor: Actor, project_id: int, block_id: int) -> BlockOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading blocks")
            return BlockOut.model_validate(await get_block(session, project_id, block_id))

    async def create(self, actor: Actor, project_id: int, data: BlockCreate) -> BlockOut:
        spec = BlockSpec(kind=data.kind, source=data.source, timeout_seconds=data.timeout_seconds)
        return (await self._insert(actor, project_id, [spec], data.position))[0]

    async def create_many(
        self, actor: Actor, project_id: int, data: BlockBulkCreate
    ) -> list[BlockOut]:
        return await self._insert(actor, project_id, data.blocks, data.position)

    async def _insert(
        self, actor: Actor, project_id: int, specs: Sequence[BlockSpec], position: int | None
    ) -> list[BlockOut]:
        async with self.locks.hold(project_id):
            outs = await self._insert_rows(actor, project_id, specs, position)
            self.feed.blocks_created(project_id, outs, actor.username)
            return outs

    async def _insert_rows(
        self, actor: Actor, project_id: int, specs: Sequence[BlockSpec], position: int | None
    ) -> list[BlockOut]:
        async with self.db.session() as session:
            project, _ = await authorize(
                session, actor, project_id, "editor", "adding blocks", lock=True
            )
            count = await _count(session, project_id)
            if position is None:
                position = count
            _check_position(position, count, inserting=True)
            await _shift(session, project_id, position, None, len(specs))
            now = utcnow()
            blocks = [
                Block(
                    project_id=project_id,
                    position=position + i,
                    kind=spec.kind,
                    source=spec.source,
                    timeout_seconds=spec.timeout_seconds,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                for i, spec in enumerate(specs)
            ]
            session.add_all(blocks)
            _touch(project)
            await session.flush()
            return [BlockOut.model_validate(b) for b in blocks]

    async def update(
        self, actor: Actor, project_id: int, block_id: int, data: BlockUpdate
    ) -> BlockOut:
        out, changed = await self._update_row(actor, project_id, block_id, data)
        if changed:
            self.feed.block_changed(project_id, out, actor.username)
        return out

    async def _update_row(
        self, actor: Actor, project_id: int, block_id: int, data: BlockUpdate
    ) -> tuple[BlockOut, bool]:
        """The block after the change, and whether anything changed."""
        changes = data.model_dump(exclude_unset=True, exclude={"version"})
        for name in ("kind", "source"):
            if name in changes and changes[name] is None:
                raise BadRequest(f"field {name!r} must not be null", details={"field": name})
        if not changes:
            raise BadRequest(
                "nothing to change: give 'source', 'kind' and/or 'timeout_seconds'",
                details={"field": "source"},
            )
        async with self.db.session() as session:
            project, _ = await authorize(session, actor, project_id, "editor", "editing blocks")
            block = await get_block(session, project_id, block_id)
            _check_version(block, data.version)
            if all(getattr(block, k) == v for k, v in changes.items()):
                return BlockOut.model_validate(block), False
            result = await session.execute(
                update(Block)
                .where(Block.id == block_id, Block.version == data.version)
                .values(**changes, version=Block.version + 1, updated_at=utcnow()),
                execution_options={"synchronize_session": False},
            )
            block = await get_block(session, project_id, block_id)
            if result.rowcount == 0:  # another writer got in between the read and the update
                _check_version(block, data.version)
            _touch(project)
            return BlockOut.model_validate(block), True

    async def delete(self, actor: Actor, project_id: int, block_id: int, version: int) -> None:
        async with self.locks.hold(project_id):
            await self._delete_row(actor, project_id, block_id, version)
            self.feed.block_deleted(project_id, block_id, actor.username)
        for hook in self.on_deleted:
            await hook(project_id, block_id)

    async def _delete_row(self, actor: Actor, project_id: int, block_id: int, version: int) -> None:
        async with self.db.session() as session:
            project, _ = await authorize(
                session, actor, project_id, "editor", "deleting blocks", lock=True
            )
            block = await get_block(session, project_id, block_id)
            _check_version(block, version)
            result = await session.execute(
                delete(Block).where(Block.id == block_id, Block.version == version),
                execution_options={"synchronize_session": False},
            )
            if result.rowcount == 0:
                _check_version(await get_block(session, project_id, block_id), version)
            await _shift(session, project_id, block.position + 1, None, -1)
            _touch(project)

    async def clear_outputs(
        self, actor: Actor, project_id: int, data: OutputsClear
    ) -> OutputsCleared:
        """Blocks show no outputs until they run again, as a notebook saved after "Clear
        Outputs" (their runs stay in the history, and their states do not change)."""
        wanted = set(data.block_ids)
        async with self.locks.hold(project_id):
            async with self.db.session() as session:
                await authorize(session, actor, project_id, "editor", "clearing outputs")
                rows = (
                    await session.execute(
                        select(Block.id, Block.last_run_id).where(
                            Block.project_id == project_id, Block.id.in_(wanted)
                        )
                    )
                ).all()
                missing = sorted(wanted - {row.id for row in rows})
                if missing:
                    raise NotFound(
                        f"blocks {', '.join(map(str, missing))} are not in this project",
                        details={"field": "block_ids", "block_ids": missing},
                    )
                cleared = sorted(row.id for row in rows if row.last_run_id is not None)
                if cleared:
                    await session.execute(
                        update(Block).where(Block.id.in_(cleared)).values(last_run_id=None),
                        execution_options={"synchronize_session": False},
                    )
            if cleared:
                self.feed.outputs_cleared(project_id, cleared, actor.username)
        return OutputsCleared(block_ids=cleared)

    async def move(
        self, actor: Actor, project_id: int, block_id: int, data: BlockMove
    ) -> BlockMoved:
        async with self.locks.hold(project_id):
            moved, changed = await self._move_row(actor, project_id, block_id, data)
            if changed:
                self.feed.blocks_moved(project_id, moved.order, actor.username)
            return moved

    async def _move_row(
        self, actor: Actor, project_id: int, block_id: int, data: BlockMove
    ) -> tuple[BlockMoved, bool]:
        async with self.db.session() as session:
            project, _ = await authorize(
                session, actor, project_id, "editor", "moving blocks", lock=True
            )
            block = await get_block(session, project_id, block_id)
            _check_position(data.position, await _count(session, project_id), inserting=False)
            old, new = block.position, data.position
            if new != old:
                if new < old:
                    await _shift(session, project_id, new, old, 1)
                else:
                    await _shift(session, project_id, old + 1, new + 1, -1)
                await session.execute(
                    update(Block).where(Block.id == block_id).values(position=new),
                    execution_options={"synchronize_session": False},
                )
                _touch(project)
            order = list(
                await session.scalars(
                    select(Block.id).where(Block.project_id == project_id).order_by(Block.position)
                )
            )
            block = await get_block(session, project_id, block_id)
            return BlockMoved(block=BlockOut.model_validate(block), order=order), new != old
