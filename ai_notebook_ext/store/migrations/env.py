"""Alembic environment: runs on the connection handed over by ``store.database``."""

from __future__ import annotations

from alembic import context

from ai_notebook_ext.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate using the connection passed in ``config.attributes``."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("ai_notebook_ext migrations must be run through store.database")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
