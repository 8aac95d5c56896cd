"""Typed models of several servers on one database: the servers and their heartbeats,
the per-project run leases, and event payloads too big for a PostgreSQL NOTIFY."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import AUTOINCREMENT, Base
from .types import UTCDateTime, utcnow


class ServerRow(Base):
    """A server process using the database; alive while ``heartbeat_at`` is recent."""

    __tablename__ = "servers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a uuid4, made at start
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ProjectLease(Base):
    """Which server may run code of a project now (until ``expires_at``, renewed with
    its heartbeat): a project's runs never overlap across servers."""

    __tablename__ = "project_leases"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    server_id: Mapped[str] = mapped_column(String(36))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventPayload(Base):
    """A project event too big for a NOTIFY (8000 bytes): the notification names its
    row, the other servers read it; pruned after a minute."""

    __tablename__ = "event_payloads"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
