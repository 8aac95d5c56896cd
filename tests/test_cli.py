"""`jupyter ai-notebook import|run|export` as a user runs them: real processes and kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

DATA = Path(__file__).parent / "data"
JUPYTER = str(Path(sys.executable).parent / "jupyter")


@pytest.fixture
def cli(tmp_path, db_url):
    """Run ``jupyter ai-notebook ARGS`` against the test database; returns the process."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [JUPYTER, "ai-notebook", *args, f"--database-url={db_url}"]
        command += [f"--data-dir={tmp_path / 'data'}", "--user=analyst"]
        return subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout
        )

    run.work = work  # type: ignore[attr-defined]
    return run


def test_a_real_world_notebook_imports_runs_and_exports(cli):
    imported = cli("import", str(DATA / "store_sales.ipynb"), "--json")
    assert imported.returncode == 0, imported.stderr
    project = json.loads(imported.stdout)
    assert project["name"] == "Store sales analysis"

    ran = cli("run", "Store sales analysis", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    assert run["kind"] == "pipeline"
    assert run["status"] == "succeeded", run
    assert len(run["plan"]) == 9
    assert {r["status"] for r in run["results"]} == {"succeeded"}
    # Progress: one line per block on stderr.
    lines = [line for line in ran.stderr.splitlines() if line.startswith("[")]
    assert sum(" ok " in line for line in lines) == 9, ran.stderr
    assert "[9/9]" in ran.stderr

    exported = cli("export", str(project["id"]), "-o", "out.ipynb")
    assert exported.returncode == 0, exported.stderr
    notebook = nbformat.read(cli.work / "out.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in code]
    assert any(t.startswith("2000 records") for t in texts), texts
    assert any("best month: 2026-" in t for t in texts), texts
    assert "report done" in texts[-1]
    html = [o for c in code for o in c.outputs if "text/html" in o.get("data", {})]
    assert "<table>" in html[0]["data"]["text/html"]
    assert code[-1].outputs[-1]["data"]["text/plain"] == "True"


def test_a_failing_block_fails_the_run_with_exit_code_1(cli, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("b = a / 0"),
        nbformat.v4.new_code_cell("c = b + 1"),
        nbformat.v4.new_code_cell("d = a + 1"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    assert cli("import", str(path)).returncode == 0
    ran = cli("run", "broken")
    assert ran.returncode == 1, ran.stderr
    assert "FAILED" in ran.stderr
    assert "ZeroDivisionError" in ran.stderr
    assert "skipped" in ran.stderr
    assert ran.stdout.strip() == "failed: 2 succeeded, 1 failed, 1 skipped"

    stopped = cli("run", "broken", "--stop-on-error", "--json")
    assert stopped.returncode == 1
    result = json.loads(stopped.stdout)
    assert [r["status"] for r in result["results"]] == ["succeeded", "failed", "skipped", "skipped"]


def test_usage_errors_say_what_is_wrong(cli, tmp_path):
    missing = cli("import", str(tmp_path / "nope.ipynb"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    (tmp_path / "bad.ipynb").write_text('{"cells": 1}')
    bad = cli("import", str(tmp_path / "bad.ipynb"))
    assert bad.returncode == 2
    assert "not a Jupyter notebook" in bad.stderr or "invalid notebook" in bad.stderr
    unknown = cli("run", "no such project")
    assert unknown.returncode == 2
    assert "no project 'no such project'" in unknown.stderr
    target = cli("run", "1", "--target=sideways")
    assert target.returncode == 2
    assert "--target" in target.stderr
    nothing = cli("run")
    assert nothing.returncode == 2
    assert "give exactly one project" in nothing.stderr


def test_the_agent_runs_a_turn_headless(cli, tmp_path):
    from agent_script import Model
    from ai_server import ScriptedServer

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("base = 40")])
    path = tmp_path / "small.ipynb"
    nbformat.write(nb, path)
    imported = cli("import", str(path), "--name=small", "--json")
    assert imported.returncode == 0, imported.stderr
    model = Model("openai", True)
    with ScriptedServer() as upstream:
        upstream.script(
            model.calls(("create_block", {"source": "answer = 2 + 40\nprint(answer)"})),
            lambda body: model.calls(
                ("run_block", {"block_id": json.loads(body["messages"][-1]["content"])["id"]})
            ),
            model.answer("The answer is 42."),
        )
        ai = [
            f"--AINotebookApp.openai_base_url={upstream.url}/v1",
            "--AINotebookApp.openai_api_key=sk-cli",
        ]
        done = cli("agent", "small", "add 2 and 40", "--model=openai:test", *ai)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "The answer is 42."
        assert "[step 1] create_block" in done.stderr
        assert "ok succeeded" in done.stderr
        assert "answered after 3 step(s)" in done.stderr
        # ask mode without a terminal: the write is denied, the turn still answers
        upstream.script(model.calls(("create_block", {"source": "x = 1"})), model.answer("ok"))
        asked = cli("agent", "small", "make x", "--mode=ask", "--model=openai:test", *ai)
        assert asked.returncode == 0, asked.stderr
        assert "denied" in asked.stderr
    exported = cli("export", "small", "-o", "-")
    cells = nbformat.reads(exported.stdout, as_version=4).cells
    assert [c.source for c in cells] == ["base = 40", "answer = 2 + 40\nprint(answer)"]
    assert cells[1].outputs[0]["text"] == "42\n"
    bad = cli("agent", "small")
    assert bad.returncode == 2
    assert "give a project" in bad.stderr


def test_admin_users_given_as_a_json_list_is_warned_about(cli):
    done = cli("export", "1", '--AINotebookApp.admin_users=["alice", "bob"]')
    assert done.returncode == 2  # no such project; the configuration was read
    assert 'admin_users has the odd name(s) \'["alice", "bob"]\'' in done.stderr
    assert "--AINotebookApp.admin_users=alice --AINotebookApp.admin_users=bob" in done.stderr
    fine = cli("export", "1", "--AINotebookApp.admin_users=alice")
    assert "odd name" not in fine.stderr
