"""Database snapshots: SQLite's online backup API, pg_dump / pg_restore for PostgreSQL.

Both read one consistent state while the server keeps writing: SQLite's backup copies
the database in one step under a read lock; for PostgreSQL a repeatable-read
transaction exports its snapshot, pg_dump dumps exactly that snapshot, and the blobs and
artifacts to copy are read in the same transaction.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import URL

from ..store.database import make_sync_engine
from .layout import BackupError, digests

BLOBS_SQL = "SELECT DISTINCT blob FROM dataset_versions"
ARTIFACTS_SQL = (
    "SELECT sha256 FROM artifacts UNION SELECT artifact FROM dataset_reports "
    "WHERE artifact IS NOT NULL"
)
REVISION_SQL = "SELECT version_num FROM alembic_version"
TOOL_TIMEOUT = 3600.0


@dataclass
class Snapshot:
    """What a database snapshot references."""

    revision: str
    blobs: set[str]
    artifacts: set[str]


def _references(execute: Any) -> Snapshot:
    """Read the schema revision and referenced hashes with ``execute(sql) -> rows``."""
    revision = [str(r[0]) for r in execute(REVISION_SQL)]
    return Snapshot(
        revision=revision[0] if revision else "",
        blobs=digests(r[0] for r in execute(BLOBS_SQL)),
        artifacts=digests(r[0] for r in execute(ARTIFACTS_SQL)),
    )


def sqlite_snapshot(url: URL, target: Path) -> Snapshot:
    """Copy the live SQLite database to ``target`` (one file, no WAL)."""
    source_path = Path(url.database or "")
    if not url.database or not source_path.is_file():
        raise BackupError(f"no SQLite database at {source_path}")
    source = sqlite3.connect(str(source_path), timeout=30)
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)  # one step: a consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")
        snapshot = _references(lambda sql: copy.execute(sql).fetchall())
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source_path} failed: {exc}") from None
    finally:
        copy.close()
        source.close()
    return snapshot


def sqlite_restore(backup: Path, url: URL) -> None:
    target = Path(url.database or "")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(str(backup))
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def pg_tool(name: str, bin_dir: str = "") -> str:
    """The path of a PostgreSQL client program: in ``bin_dir`` if given, else on PATH,
    else the newest /usr/lib/postgresql/*/bin."""
    if bin_dir:
        path = Path(bin_dir) / name
        if not path.is_file():
            raise BackupError(f"{name} not found in {bin_dir}")
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: tuple(int(n) for n in re.findall(r"\d+", p.parent.parent.name)),
    )
    if installed:
        return str(installed[-1])
    raise BackupError(
        f"{name} not found: install the PostgreSQL client programs (e.g. apt-get install "
        "postgresql-client) or give --pg-bin=FOLDER"
    )


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - our own pg tool and arguments
            command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")


def pg_snapshot(url: URL, target: Path, bin_dir: str = "") -> Snapshot:
    """pg_dump of one exported snapshot, and what that snapshot references."""
    import psycopg

    pg_dump = pg_tool("pg_dump", bin_dir)
    uri, env = libpq(url)
    try:
        conn = psycopg.connect(uri, password=url.password, autocommit=True)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to the database: {exc}") from None
    with conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot = _references(lambda sql: conn.execute(sql).fetchall())
        command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges"]
        command += [f"--snapshot={row[0]}", f"--file={target}", f"--dbname={uri}"]
        _run(command, env, "pg_dump")
        conn.execute("COMMIT")
    return snapshot


def pg_restore(backup: Path, url: URL, bin_dir: str = "") -> None:
    tool = pg_tool("pg_restore", bin_dir)
    uri, env = libpq(url)
    command = [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    _run([*command, f"--dbname={uri}", str(backup)], env, "pg_restore")


def database_tables(url: URL) -> list[str]:
    """The tables of the database at ``url`` (none for a SQLite file not yet created)."""
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return []
    engine = make_sync_engine(url)
    try:
        return list(inspect(engine).get_table_names())
    except Exception as exc:  # cannot connect, no such database, ...
        raise BackupError(f"cannot open the target database: {exc}") from None
    finally:
        engine.dispose()
