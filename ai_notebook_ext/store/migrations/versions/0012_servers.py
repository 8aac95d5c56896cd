"""Several servers on one database: servers with heartbeats, runs owned by a server,
per-project run leases, payloads of big cross-server events.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ai_notebook_ext.store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servers")),
    )
    op.create_index(op.f("ix_servers_heartbeat_at"), "servers", ["heartbeat_at"])
    op.create_table(
        "project_leases",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_leases_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_leases")),
    )
    op.create_table(
        "event_payloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_payloads")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_event_payloads_created_at"), "event_payloads", ["created_at"])
    # A plain ADD COLUMN on both backends (no table rebuild on SQLite).
    op.add_column("runs", sa.Column("server_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("server_id")
    op.drop_index(op.f("ix_event_payloads_created_at"), table_name="event_payloads")
    op.drop_table("event_payloads")
    op.drop_table("project_leases")
    op.drop_index(op.f("ix_servers_heartbeat_at"), table_name="servers")
    op.drop_table("servers")
