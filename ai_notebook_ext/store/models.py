"""SQLAlchemy 2.0 typed models: users, projects, memberships, blocks, edges, runs, kernels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime, utcnow

# Deterministic constraint names keep Alembic migrations portable across backends.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# Table option of every table with an integer id: SQLite never hands out a deleted row's
# id again (migration 0010); PostgreSQL's serial columns never do anyway.
AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}

USER_ROLES = ("admin", "member")
PROJECT_ROLES = ("owner", "editor", "viewer")
BLOCK_KINDS = ("code", "markdown")
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
RUN_FINAL = ("succeeded", "failed", "cancelled", "interrupted")


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A Jupyter identity seen by this server (created on first request or when invited)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'member')", name="role"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Project(Base):
    """A named collection of blocks owned by one user and shared through memberships."""

    __tablename__ = "projects"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    working_dir: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # SQLite: a new random value on every change to the project's blocks, set by triggers
    # (migration 0014), never by the application: the block list cache's key. Unused on
    # PostgreSQL, where the list reads the blocks' row versions.
    blocks_revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Membership(Base):
    """A user's role in a project: owner, editor or viewer."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint("role IN ('owner', 'editor', 'viewer')", name="role"),)

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Block(Base):
    """One code or markdown block of a project, ordered by position.

    ``version`` increases on every change; clients send the version they saw so that
    concurrent edits are detected (optimistic concurrency).
    """

    __tablename__ = "blocks"
    __table_args__ = (
        CheckConstraint("kind IN ('code', 'markdown')", name="kind"),
        Index("ix_blocks_project_position", "project_id", "position"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="code")
    source: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    timeout_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL", use_alter=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Run(Base):
    """One execution of a block's code in its project's kernel, with its outputs, or one
    pipeline run over several blocks (``kind``).

    Status moves queued -> running -> succeeded | failed | cancelled | interrupted.
    ``source`` is the code as it was run; ``outputs`` are nbformat outputs whose large or
    binary data live in artifacts.
    """

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')",
            name="status",
        ),
        CheckConstraint("kind IN ('block', 'pipeline')", name="kind"),
        Index("ix_runs_project_status", "project_id", "status"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    block_id: Mapped[int | None] = mapped_column(
        ForeignKey("blocks.id", ondelete="SET NULL"), nullable=True, index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    source: Mapped[str] = mapped_column(Text, default="")
    block_version: Mapped[int] = mapped_column(Integer, default=1)
    timeout_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    execution_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outputs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    kernel_generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The block's fingerprint (its code and its upstream's, see dag/state.py) when it ran.
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A pipeline run has no block: it has a plan (block ids in order), a result per block
    # and its options; the block runs it made point at it through parent_id.
    kind: Mapped[str] = mapped_column(String(16), default="block", server_default="block")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    plan: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    results: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What started it: "manual" (a request, the agent, the CLI) or "schedule" (with the
    # schedule's id; no foreign key: a deleted schedule leaves its runs as they were).
    trigger: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    schedule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The server process that owns the run (servers.id; None: rows older than 0012).
    server_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Edge(Base):
    """An explicit dependency a user added: ``source`` must run before ``target``.

    Inferred dependencies are not stored; the graph derives them from the code each time.
    """

    __tablename__ = "edges"
    __table_args__ = (
        UniqueConstraint("source_id", "target_id", name="uq_edges_source_target"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    source_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AICall(Base):
    """One call through the AI router: who, which provider answered, how it went."""

    __tablename__ = "ai_calls"
    __table_args__ = (
        Index("ix_ai_calls_created_at", "created_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_out: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    fell_back_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PromptTemplateRow(Base):
    """A user's prompt template; one named like a built-in overrides it for that user."""

    __tablename__ = "prompt_templates"
    __table_args__ = (
        UniqueConstraint("owner_id", "name", name="uq_prompt_templates_owner_name"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    system: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProjectKernel(Base):
    """The execution state of a project: its kernel and when its state was last lost.

    ``generation`` counts kernel starts (including restarts after a crash); a run records
    the generation it ran in, so later code can tell which results the kernel still holds.
    """

    __tablename__ = "project_kernels"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    kernel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kernel_name: Mapped[str] = mapped_column(String(255), default="")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reset_reason: Mapped[str] = mapped_column(Text, default="")


class Artifact(Base):
    """A content-addressed file (image, PDF, large text) that a project's outputs reference."""

    __tablename__ = "artifacts"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    mime: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
