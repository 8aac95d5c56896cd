"""SQLite: a project's blocks revision, a new random value on every change to its blocks.

Triggers on ``blocks`` set it, so it changes whoever changes a block: this server, a
script or a later migration. A block list is served from the cache while the revision it
was built at is still current (``projects/listing.py``): one row read per request
instead of every block's. The value is random, not a counter: a database restored from
an older backup must not hand out, for different blocks, a value a client already holds
as an ETag.

PostgreSQL gets the column but no triggers: there the list reads its blocks' row
versions (``xmin``) instead, because a trigger writing the project row would lock it
after a block row, the opposite order of inserts and moves, and could deadlock them.
SQLite has one writer at a time.

A later SQLite migration that rebuilds a table (Alembic's batch mode: create, copy, drop,
rename) must drop these triggers first and create them again after
(``BLOCKS_REVISION_SQLITE``): rebuilding ``blocks`` drops them with the table, and
rebuilding ``projects`` fails at the rename, since they name it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# SQLite's random() is a random 64-bit integer.
BLOCKS_REVISION_SQLITE = [
    """CREATE TRIGGER blocks_revision_insert AFTER INSERT ON blocks BEGIN
        UPDATE projects SET blocks_revision = random() WHERE id = NEW.project_id;
    END""",
    """CREATE TRIGGER blocks_revision_update AFTER UPDATE ON blocks BEGIN
        UPDATE projects SET blocks_revision = random()
        WHERE id IN (NEW.project_id, OLD.project_id);
    END""",
    """CREATE TRIGGER blocks_revision_delete AFTER DELETE ON blocks BEGIN
        UPDATE projects SET blocks_revision = random() WHERE id = OLD.project_id;
    END""",
]


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("blocks_revision", sa.BigInteger(), nullable=False, server_default="0"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in BLOCKS_REVISION_SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS blocks_revision_{name}")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("blocks_revision")
