"""Runs, kernel state, artifacts; blocks get a timeout and last run, projects a workdir.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ai_notebook_ext.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_artifacts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "sha256", name=op.f("pk_artifacts")),
    )
    op.create_table(
        "project_kernels",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kernel_id", sa.String(length=64), nullable=True),
        sa.Column("kernel_name", sa.String(length=255), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("reset_at", UTCDateTime(), nullable=True),
        sa.Column("reset_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_kernels_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_kernels")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("block_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("block_version", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("execution_count", sa.Integer(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("kernel_generation", sa.Integer(), nullable=True),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')",
            name=op.f("ck_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["block_id"], ["blocks.id"], name=op.f("fk_runs_block_id_blocks"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_runs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_block_id"), "runs", ["block_id"])
    op.create_index("ix_runs_project_status", "runs", ["project_id", "status"])
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("working_dir", sa.String(length=1024), nullable=True))
    with op.batch_alter_table("blocks") as batch:
        batch.add_column(sa.Column("timeout_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("last_run_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_blocks_last_run_id_runs"), "runs", ["last_run_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("blocks") as batch:
        batch.drop_constraint(op.f("fk_blocks_last_run_id_runs"), type_="foreignkey")
        batch.drop_column("last_run_id")
        batch.drop_column("timeout_seconds")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("working_dir")
    op.drop_index("ix_runs_project_status", table_name="runs")
    op.drop_index(op.f("ix_runs_block_id"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("project_kernels")
    op.drop_table("artifacts")
