"""Schedules (cron -> pipeline runs); runs say what triggered them.

Revision ID: 0013
Revises: 0011 (the integrator chains it after 0012 when both are merged)
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ai_notebook_ext.store.types import UTCDateTime

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("block_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_pipeline_run_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("target IN ('pipeline', 'block')", name=op.f("ck_schedules_target")),
        sa.ForeignKeyConstraint(
            ["block_id"],
            ["blocks.id"],
            name=op.f("fk_schedules_block_id_blocks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_schedules_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_schedules_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_schedules_project_id"), "schedules", ["project_id"])
    op.create_index(op.f("ix_schedules_block_id"), "schedules", ["block_id"])
    op.create_index("ix_schedules_enabled_next_run_at", "schedules", ["enabled", "next_run_at"])
    # Plain ADD COLUMNs (no table rebuild on SQLite): runs is the biggest table.
    op.add_column(
        "runs",
        sa.Column("trigger", sa.String(length=16), nullable=False, server_default="manual"),
    )
    op.add_column("runs", sa.Column("schedule_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("schedule_id")
        batch.drop_column("trigger")
    op.drop_index("ix_schedules_enabled_next_run_at", table_name="schedules")
    op.drop_index(op.f("ix_schedules_block_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_project_id"), table_name="schedules")
    op.drop_table("schedules")
