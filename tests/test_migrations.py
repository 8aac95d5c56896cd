"""Migrations: a fresh and an older database both reach head; models match migrations."""

from __future__ import annotations

import pytest
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
