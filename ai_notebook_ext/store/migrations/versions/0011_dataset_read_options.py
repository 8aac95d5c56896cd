"""Dataset versions keep the options they were read with (delimiter, encoding, ...).

On SQLite, a rebuild keeps the table's AUTOINCREMENT (migration 0010).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table(
        "dataset_versions", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(
            sa.Column("read_options", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "dataset_versions", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("read_options")
