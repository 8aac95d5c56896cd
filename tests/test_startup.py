"""Fast startup: loading the extension imports nothing heavy and skips Alembic at head.

What is checked is behaviour, not timing (benchmarks/startup.py measures the time): which
modules a server process has imported after loading the extension, and whether the
database was migrated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ai_notebook_ext.startup import SCHEMA_HEAD, at_head, stored_revision
from ai_notebook_ext.store.database import alembic_config, make_sync_engine, upgrade

REPO = Path(__file__).resolve().parent.parent

#: Never needed to start: data workers, AI clients and migrations load on first use.
HEAVY = ("duckdb", "pandas", "pyarrow", "openai", "google.genai", "alembic")

# Loads the extension into a ServerApp (as `jupyter server` does, without serving), then
# builds the services as the first request or the warm-up would; prints which of the
# modules were imported after each step.
SCRIPT = """
import json, sys
from jupyter_server.serverapp import ServerApp

watch = sys.argv[1].split(",")
root, data, url = sys.argv[2:5]
app = ServerApp.instance()
app.initialize([
    f"--ServerApp.root_dir={root}", "--ServerApp.port=0",
    f"--AINotebookApp.data_dir={data}", f"--AINotebookApp.database_url={url}",
    "--ServerApp.jpserver_extensions={'ai_notebook_ext': True, 'jupyterlab': False, "
    "'jupyter_lsp': False, 'jupyter_server_terminals': False, 'notebook_shim': False}",
], new_httpserver=False)
loaded = [m for m in watch if m in sys.modules]
(ext,) = app.extension_manager.extension_apps["ai_notebook_ext"]
assert ext.services.db is not None
built = [m for m in watch if m in sys.modules]
print(json.dumps({"loaded": loaded, "built": built}))
"""


def load_extension(tmp_path: Path, url: str) -> dict[str, list[str]]:
    """Modules of HEAVY (and SQLAlchemy) imported after loading, and after building."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    watch = ",".join((*HEAVY, "sqlalchemy", "ai_notebook_ext.services"))
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, watch, str(root), str(tmp_path / "data"), url],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_schema_head_is_the_newest_migration():
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_stored_revision_reads_the_stamp(db_url):
    assert stored_revision(db_url) is None  # empty database: no alembic_version table
    upgrade(db_url, "0001")
    assert stored_revision(db_url) == "0001"
    assert not at_head(db_url)
    upgrade(db_url)
    assert stored_revision(db_url) == SCHEMA_HEAD
    assert at_head(db_url)


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///relative/nowhere.db", "mysql://u@h/db"],
)
def test_odd_urls_are_not_at_head(url):
    assert stored_revision(url) is None


def test_a_missing_sqlite_file_is_not_created_by_the_check(tmp_path):
    path = tmp_path / "none.db"
    assert stored_revision(f"sqlite:///{path}") is None
    assert not path.exists()


def test_loading_at_head_imports_nothing_heavy(db_url, tmp_path):
    upgrade(db_url)
    modules = load_extension(tmp_path, db_url)
    # Loading: no Alembic (the database is at head), not even SQLAlchemy or the services.
    assert modules["loaded"] == []
    # Building the services (first request): still no data, AI or migration libraries.
    assert set(modules["built"]) == {"sqlalchemy", "ai_notebook_ext.services"}


def test_an_older_database_is_migrated_at_load(db_url, tmp_path):
    upgrade(db_url, "0010")
    modules = load_extension(tmp_path, db_url)
    assert "alembic" in modules["loaded"]
    assert stored_revision(db_url) == SCHEMA_HEAD


def test_a_fresh_sqlite_database_is_created_at_load(tmp_path):
    url = f"sqlite:///{tmp_path / 'data' / 'fresh.db'}"
    modules = load_extension(tmp_path, url)
    assert "alembic" in modules["loaded"]
    assert stored_revision(url) == SCHEMA_HEAD


def test_a_running_server_sets_up_without_a_request(tmp_path):
    """Recovery and the services do not wait for the first API request: a run the last
    server left running is interrupted soon after the server answers."""
    sys.path.insert(0, str(REPO / "tests"))
    from server_process import ServerProcess

    url = f"sqlite:///{tmp_path / 'ainb.db'}"
    upgrade(url)
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, created_at) "
                "VALUES (1, 'u', 'u', 'member', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO projects (id, name, description, working_dir, owner_id, "
                "created_at, updated_at) VALUES (1, 'p', '', '', 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO runs (project_id, kind, status, source, block_version, outputs, "
                "message, queued_at) VALUES (1, 'block', 'running', 'x', 1, '[]', '', "
                "CURRENT_TIMESTAMP)"
            )
        )
    server = ServerProcess(tmp_path, url).start()
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                status = conn.execute(text("SELECT status FROM runs")).scalar_one()
            if status == "interrupted":
                break
            time.sleep(0.2)
        assert status == "interrupted", server.log()[-3000:]
        assert "ai_notebook_ext" in server.log()
    finally:
        server.stop()
        engine.dispose()


def test_tune_gc_freezes_the_setup_and_spaces_young_collections() -> None:
    """In a fresh interpreter (the test process keeps its own collector settings)."""
    code = (
        "import gc, json\n"
        "from ai_notebook_ext.startup import GC_THRESHOLD, tune_gc\n"
        "before = gc.get_threshold()\n"
        "tune_gc()\n"
        "after = [before, gc.get_threshold(), list(GC_THRESHOLD), gc.get_freeze_count()]\n"
        "print(json.dumps(after))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    before, after, wanted, frozen = json.loads(out.stdout)
    assert after == wanted != before
    assert frozen > 1000  # the imports' objects are in the permanent generation
