"""Pipeline runs: a run is a block run or a pipeline run with a plan and per-block results.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="block")
        )
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("plan", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("results", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_runs_parent_id_runs"), "runs", ["parent_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(batch.f("ix_runs_parent_id"), ["parent_id"])
        batch.create_check_constraint(batch.f("ck_runs_kind"), "kind IN ('block', 'pipeline')")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(batch.f("ck_runs_kind"), type_="check")
        batch.drop_index(batch.f("ix_runs_parent_id"))
        batch.drop_constraint(batch.f("fk_runs_parent_id_runs"), type_="foreignkey")
        batch.drop_column("options")
        batch.drop_column("results")
        batch.drop_column("plan")
        batch.drop_column("parent_id")
        batch.drop_column("kind")
