"""Ids are never reused: AUTOINCREMENT on SQLite for every table with an integer id.

Without AUTOINCREMENT, SQLite gives a new row the largest id in the table plus one, so
the id of the newest project, block, run, ... comes back after that row is deleted, and
whatever the server still keys by it (a project's kernel and its variables, a run's
waiters, an agent turn) would be handed to the newcomer. AUTOINCREMENT needs the table
rebuilt (SQLite cannot add it to a table): each table is copied into a new one with the
same columns, constraints and indexes. ``store.database.upgrade`` runs migrations with
foreign keys off on SQLite, as SQLite's documented rebuild procedure requires (dropping
the old parent table would otherwise cascade into its children), and checks the foreign
keys afterwards; this migration refuses to run with them on.

PostgreSQL's serial columns already never hand out an id twice: nothing to do there.
The SQLite sequence starts at each table's largest id at the time of the migration, so
the ids of rows deleted before it may still come back once.

Downgrade keeps AUTOINCREMENT (older code reads and writes these tables the same way).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Every table whose primary key is an integer id (parents before children, though with
# foreign keys off the order does not matter).
TABLES = (
    "users",
    "projects",
    "blocks",
    "runs",
    "edges",
    "ai_calls",
    "prompt_templates",
    "datasets",
    "dataset_versions",
    "quality_rules",
    "quality_results",
    "lineage",
    "dataset_reports",
    "agent_conversations",
    "agent_messages",
    "agent_approvals",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "migration 0010 rebuilds tables and must run with SQLite's foreign keys off "
            "(run it through ai_notebook_ext.store.database.upgrade)"
        )
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    pass
