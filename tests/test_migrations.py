"""Migrations: a fresh and an older database both reach head; models match migrations."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from ai_notebook_ext.store.database import (
    DatabaseConfigError,
    alembic_config,
    driver_url,
    make_sync_engine,
    upgrade,
)
from ai_notebook_ext.store.models import Base


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(url: str) -> str | None:
    engine = make_sync_engine(url)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev


def test_fresh_database_reaches_head_and_matches_models(db_url):
    upgrade(db_url)
    assert current(db_url) == head()
    engine = make_sync_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {"users", "projects", "memberships", "blocks", "alembic_version"} <= tables
    upgrade(db_url)  # idempotent
    assert current(db_url) == head()


def test_older_database_is_upgraded_keeping_its_data(db_url):
    upgrade(db_url, "0001")
    assert current(db_url) == "0001"
    engine = make_sync_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, created_at) "
                "VALUES (1, 'old', 'Old User', 'member', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO projects (id, name, description, owner_id, created_at, updated_at) "
                "VALUES (1, 'legacy', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        assert "blocks" not in inspect(conn).get_table_names()
    upgrade(db_url)
    assert current(db_url) == head()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM projects")).scalars().all() == ["legacy"]
        assert "blocks" in inspect(conn).get_table_names()
    engine.dispose()


def test_downgrade_to_base_and_back(db_url):
    upgrade(db_url)
    engine = make_sync_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(db_url)
    assert current(db_url) == head()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "mongodb://x"])
def test_unsupported_backends_are_refused_clearly(url):
    with pytest.raises(DatabaseConfigError, match="unsupported database URL"):
        driver_url(url)


def id_tables() -> list[str]:
    """Every table whose primary key is one integer id column."""
    from ai_notebook_ext.store import agent_models, dataset_models  # noqa: F401 - registers

    return sorted(
        t.name
        for t in Base.metadata.sorted_tables
        if [c.name for c in t.primary_key.columns] == ["id"]
        and isinstance(t.c.id.type, sa.Integer)  # not servers' uuid ids
    )


def test_every_integer_id_table_is_autoincrement_on_sqlite(db_url):
    upgrade(db_url)
    engine = make_sync_engine(db_url)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = dict(conn.execute(text("SELECT name, sql FROM sqlite_master")).all())
            assert len(id_tables()) >= 16
            for table in id_tables():
                assert "AUTOINCREMENT" in sql[table], table
        else:  # serial columns: a sequence, which never hands out a value twice
            for table in id_tables():
                seq = conn.execute(text(f"SELECT pg_get_serial_sequence('{table}', 'id')"))
                assert seq.scalar(), table
    engine.dispose()


def test_ids_of_deleted_rows_are_not_handed_out_again(db_url):
    upgrade(db_url)
    engine = make_sync_engine(db_url)
    now = "CURRENT_TIMESTAMP"
    new_project = (
        "INSERT INTO projects (name, description, owner_id, created_at, updated_at) "
        f"VALUES ('p', '', 1, {now}, {now}) RETURNING id"
    )
    new_block = (
        "INSERT INTO blocks (project_id, position, kind, source, version, created_at, "
        f"updated_at) VALUES (:p, 0, 'code', 'x = 1', 1, {now}, {now}) RETURNING id"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, created_at) "
                f"VALUES (1, 'u', 'U', 'member', {now})"
            )
        )
        first = conn.execute(text(new_project)).scalar()
        block = conn.execute(text(new_block), {"p": first}).scalar()
        conn.execute(text("DELETE FROM blocks WHERE id = :b"), {"b": block})
        again = conn.execute(text(new_block), {"p": first}).scalar()
        conn.execute(text("DELETE FROM projects WHERE id = :p"), {"p": first})
        second = conn.execute(text(new_project)).scalar()
        third_block = conn.execute(text(new_block), {"p": second}).scalar()
    engine.dispose()
    assert second != first
    assert len({block, again, third_block}) == 3


def test_the_autoincrement_rebuild_keeps_rows_and_constraints(db_url):
    upgrade(db_url, "0009")
    engine = make_sync_engine(db_url)
    now = "CURRENT_TIMESTAMP"
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO users (id, username, display_name, role, created_at) "
            f"VALUES (1, 'old', 'Old', 'member', {now})",
            "INSERT INTO projects (id, name, description, owner_id, created_at, updated_at) "
            f"VALUES (5, 'legacy', '', 1, {now}, {now})",
            f"INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (5, 1, 'owner', {now})",  # noqa: E501
            "INSERT INTO blocks (id, project_id, position, kind, source, version, created_at, "
            f"updated_at) VALUES (9, 5, 0, 'code', 'x = 1', 1, {now}, {now})",
            "INSERT INTO runs (id, project_id, block_id, status, source, block_version, "
            f"outputs, message, queued_at) VALUES (3, 5, 9, 'succeeded', 'x = 1', 1, '[]', '', {now})",  # noqa: E501
            "UPDATE blocks SET last_run_id = 3",
        ):
            conn.execute(text(sql))
    upgrade(db_url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM memberships")).scalar() == 1
        assert conn.execute(text("SELECT last_run_id FROM blocks WHERE id = 9")).scalar() == 3
        assert conn.execute(text("SELECT block_id FROM runs WHERE id = 3")).scalar() == 9
    for bad in (  # foreign keys and checks still hold
        f"INSERT INTO blocks (project_id, position, kind, source, version, created_at, updated_at) VALUES (999, 0, 'code', '', 1, {now}, {now})",  # noqa: E501
        f"INSERT INTO users (username, display_name, role, created_at) VALUES ('x', 'x', 'bogus', {now})",  # noqa: E501
    ):
        with pytest.raises(Exception, match=r"(?i)foreign key|check"), engine.begin() as conn:
            conn.execute(text(bad))
    with engine.begin() as conn:  # deleting the project still cascades to its children
        conn.execute(text("DELETE FROM projects WHERE id = 5"))
        assert conn.execute(text("SELECT count(*) FROM blocks")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar() == 0
    engine.dispose()


def test_the_rebuild_refuses_to_run_with_sqlite_foreign_keys_on(tmp_path):
    """Dropping a parent table with foreign keys on would cascade into its children."""
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    upgrade(url, "0009")
    engine = make_sync_engine(url)  # foreign keys on, as every connection of ours
    with pytest.raises(RuntimeError, match="foreign keys off"), engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    assert current(url) == "0009"
