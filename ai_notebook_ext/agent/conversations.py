"""Conversations in SQL: create, list, read, change, delete; the messages, tool calls and
results, approvals of their turns; startup recovery of turns a stopped server left.

Every project member sees the project's conversations; writing to one (messages,
changes, approvals, cancel, delete) is for the user who started it and project owners.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import URL

from ..errors import Forbidden, NotFound
from ..projects.access import caller_role
from ..projects.users import Actor
from ..store import Database
from ..store.agent_models import AgentApproval, AgentMessage, Conversation
from ..store.database import make_sync_engine
from ..store.models import User
from ..store.types import utcnow
from .approvals import Waiting
from .schemas import (
    ApprovalOut,
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    ConversationUpdate,
    MessageOut,
)

INTERRUPTED = "the server stopped during this turn"
COLUMNS = [c.name for c in AgentMessage.__table__.columns]


def _out(row: Conversation, username: str | None) -> ConversationOut:
    data = {c.name: getattr(row, c.name) for c in Conversation.__table__.columns}
    return ConversationOut.model_validate({**data, "created_by": username})


class ConversationStore:
    """Reads and writes of conversations, with the project role checks."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _get(
        self, session: Any, actor: Actor, project_id: int, cid: int, write: bool = False
    ) -> Conversation:
        _, role = await caller_role(session, actor, project_id)
        row = await session.get(Conversation, cid, populate_existing=True)
        if row is None or row.project_id != project_id:
            raise NotFound(f"conversation {cid} not found in project {project_id}")
        if write and row.created_by != actor.id and role != "owner":
            raise Forbidden(
                "only the user who started this conversation or a project owner may do this",
                details={"role": role},
            )
        return row

    async def _username(self, session: Any, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        return await session.scalar(select(User.username).where(User.id == user_id))

    async def create(
        self, actor: Actor, project_id: int, data: ConversationCreate, default_model: str
    ) -> ConversationOut:
        now = utcnow()
        async with self.db.session() as session:
            await caller_role(session, actor, project_id)
            row = Conversation(
                project_id=project_id,
                created_by=actor.id,
                title=data.title or "",
                model=data.model or default_model or "",
                mode=data.mode,
                state="idle",
                turns=0,
                tokens_in=0,
                tokens_out=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return _out(row, actor.username)

    async def list(self, actor: Actor, project_id: int) -> list[ConversationOut]:
        async with self.db.session() as session:
            await caller_role(session, actor, project_id)
            rows = await session.execute(
                select(Conversation, User.username)
                .outerjoin(User, User.id == Conversation.created_by)
                .where(Conversation.project_id == project_id)
                .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            )
            return [_out(c, name) for c, name in rows.all()]

    async def get(self, actor: Actor, project_id: int, cid: int) -> ConversationOut:
        async with self.db.session() as session:
            row = await self._get(session, actor, project_id, cid)
            return _out(row, await self._username(session, row.created_by))

    async def detail(self, actor: Actor, project_id: int, cid: int) -> ConversationDetail:
        # one snapshot: the state, messages and approvals agree (a pending approval is
        # never shown with a conversation that is not waiting)
        async with self.db.session(snapshot=True) as session:
            row = await self._get(session, actor, project_id, cid)
            messages = await session.scalars(
                select(AgentMessage)
                .where(AgentMessage.conversation_id == cid)
                .order_by(AgentMessage.id)
            )
            approvals = await session.scalars(
                select(AgentApproval)
                .where(AgentApproval.conversation_id == cid)
                .order_by(AgentApproval.id)
            )
            base = _out(row, await self._username(session, row.created_by))
            return ConversationDetail(
                **base.model_dump(),
                messages=[MessageOut.model_validate(m) for m in messages],
                approvals=[ApprovalOut.model_validate(a) for a in approvals],
            )

    async def writable(self, actor: Actor, project_id: int, cid: int) -> ConversationOut:
        """The conversation if the caller may act on it (its starter or an owner)."""
        async with self.db.session() as session:
            row = await self._get(session, actor, project_id, cid, write=True)
            return _out(row, await self._username(session, row.created_by))

    async def update(
        self, actor: Actor, project_id: int, cid: int, data: ConversationUpdate
    ) -> ConversationOut:
        changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
        async with self.db.session() as session:
            row = await self._get(session, actor, project_id, cid, write=True)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            await session.flush()
            return _out(row, await self._username(session, row.created_by))

    async def delete(self, actor: Actor, project_id: int, cid: int) -> None:
        async with self.db.session() as session:
            await self._get(session, actor, project_id, cid, write=True)
            await session.execute(delete(Conversation).where(Conversation.id == cid))

    # --- the turn's records (no role checks: the service made them) -------------------

    async def rows(self, cid: int) -> list[dict[str, Any]]:
        """Every message of the conversation as plain dicts, oldest first."""
        async with self.db.connection() as conn:
            result = await conn.execute(
                select(AgentMessage.__table__)
                .where(AgentMessage.conversation_id == cid)
                .order_by(AgentMessage.id)
            )
            return [dict(r._mapping) for r in result]

    async def add(self, cid: int, **values: Any) -> int:
        values.setdefault("created_at", utcnow())
        values.setdefault("step", 0)
        values.setdefault("content", "")
        values.setdefault("is_error", False)
        values.setdefault("status", "complete")
        async with self.db.connection() as conn:
            result = await conn.execute(
                insert(AgentMessage.__table__)
                .values(conversation_id=cid, **values)
                .returning(AgentMessage.id)
            )
            return int(result.scalar_one())

    async def set(self, cid: int, **values: Any) -> None:
        values["updated_at"] = utcnow()
        async with self.db.connection() as conn:
            await conn.execute(
                update(Conversation.__table__).where(Conversation.id == cid).values(**values)
            )

    async def begin_turn(self, cid: int) -> int:
        """Mark a turn running; its number."""
        async with self.db.session() as session:
            row = await session.get(Conversation, cid, populate_existing=True)
            if row is None:
                raise NotFound(f"conversation {cid} not found")
            row.turns += 1
            row.state = "running"
            row.updated_at = utcnow()
            return row.turns

    async def end_turn(self, cid: int, tokens_in: int, tokens_out: int) -> None:
        async with self.db.session() as session:
            row = await session.get(Conversation, cid, populate_existing=True)
            if row is None:
                return
            row.state = "idle"
            row.tokens_in += tokens_in
            row.tokens_out += tokens_out
            row.updated_at = utcnow()

    async def add_approval(
        self, cid: int, waiting: Waiting, **values: Any
    ) -> tuple[ApprovalOut, asyncio.Future[bool]]:
        """A pending approval and the conversation 'waiting', in one transaction; the
        answer's future is registered before the commit, so whoever sees the approval
        finds the conversation waiting and can decide it."""
        aid = None
        try:
            async with self.db.session() as session:
                now = utcnow()
                row = AgentApproval(conversation_id=cid, status="pending", created_at=now, **values)
                session.add(row)
                await session.flush()
                aid = row.id
                await session.execute(
                    update(Conversation.__table__)
                    .where(Conversation.id == cid)
                    .values(state="waiting", updated_at=now)
                )
                out = ApprovalOut.model_validate(row)
                future = waiting.expect(aid)
        except BaseException:
            if aid is not None:
                waiting.forget(aid)
            raise
        return out, future

    async def approval(self, actor: Actor, project_id: int, aid: int) -> ApprovalOut:
        """An approval of a conversation the caller may act on."""
        async with self.db.session() as session:
            row = await session.get(AgentApproval, aid, populate_existing=True)
            if row is None:
                raise NotFound(f"approval {aid} not found in project {project_id}")
            await self._get(session, actor, project_id, row.conversation_id, write=True)
            return ApprovalOut.model_validate(row)

    async def decide(self, aid: int, status: str, user_id: int | None) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                update(AgentApproval.__table__)
                .where(AgentApproval.id == aid, AgentApproval.status == "pending")
                .values(status=status, decided_by=user_id, decided_at=utcnow())
            )


def recover(url: str | URL) -> int:
    """At startup: turns a stopped server left running end ``interrupted`` (tool calls
    without a result get one saying so), pending approvals expire."""
    engine = make_sync_engine(url)
    now = utcnow()
    try:
        with engine.begin() as conn:
            open_ids = list(
                conn.scalars(select(Conversation.id).where(Conversation.state != "idle"))
            )
            for cid in open_ids:
                rows = conn.execute(
                    select(AgentMessage.__table__)
                    .where(AgentMessage.conversation_id == cid)
                    .order_by(AgentMessage.id)
                ).all()
                turn = rows[-1].turn if rows else 0
                for row in dangling_calls([dict(r._mapping) for r in rows]):
                    conn.execute(
                        insert(AgentMessage.__table__).values(
                            conversation_id=cid,
                            turn=turn,
                            step=row["step"],
                            role="tool",
                            content=f"not run: {INTERRUPTED}",
                            tool_call_id=row["id"],
                            tool_name=row["name"],
                            arguments=row["arguments"],
                            is_error=True,
                            status="complete",
                            created_at=now,
                        )
                    )
                conn.execute(
                    insert(AgentMessage.__table__).values(
                        conversation_id=cid,
                        turn=turn,
                        step=0,
                        role="assistant",
                        content=INTERRUPTED,
                        is_error=False,
                        status="interrupted",
                        created_at=now,
                    )
                )
            conn.execute(
                update(Conversation.__table__)
                .where(Conversation.state != "idle")
                .values(state="idle", updated_at=now)
            )
            conn.execute(
                update(AgentApproval.__table__)
                .where(AgentApproval.status == "pending")
                .values(status="expired", decided_at=now)
            )
            return len(open_ids)
    finally:
        engine.dispose()


def dangling_calls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls of the last assistant message that have no result (with its step)."""
    last = next((r for r in reversed(rows) if r["role"] == "assistant"), None)
    if last is None or not last.get("tool_calls"):
        return []
    answered = {r["tool_call_id"] for r in rows if r["role"] == "tool" and r["id"] > last["id"]}
    return [{**c, "step": last["step"]} for c in last["tool_calls"] if c["id"] not in answered]
