"""Typed model of schedules: a project's pipeline (or one block) run on a cron."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import AUTOINCREMENT, Base
from .types import UTCDateTime, utcnow

SCHEDULE_TARGETS = ("pipeline", "block")


class Schedule(Base):
    """A cron that starts pipeline runs as the user who created it.

    ``next_run_at`` is when it fires next (NULL while disabled). Servers sharing the
    database claim a firing with ``UPDATE ... WHERE next_run_at = :due``: exactly one of
    them changes the row, and only that one starts the run (``schedules/scheduler.py``).
    A deleted project or block takes its schedules with it.
    """

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("target IN ('pipeline', 'block')", name="target"),
        Index("ix_schedules_enabled_next_run_at", "enabled", "next_run_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    target: Mapped[str] = mapped_column(String(16), default="pipeline")
    block_id: Mapped[int | None] = mapped_column(
        ForeignKey("blocks.id", ondelete="CASCADE"), nullable=True, index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # No foreign key: the run may be deleted with its history; the id stays informative.
    last_pipeline_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
