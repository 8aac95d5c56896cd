"""A real server process: data survives a restart, on SQLite and on PostgreSQL."""

from __future__ import annotations

from server_process import ServerProcess, tracebacks


def test_restart_loses_nothing(tmp_path, db_url):
    server = ServerProcess(tmp_path, db_url).start()
    try:
        status, project = server.request("POST", "ai-notebook/api/projects", {"name": "kept"})
        assert status == 201, project
        pid = project["id"]
        status, created = server.request(
            "POST",
            f"ai-notebook/api/projects/{pid}/blocks/bulk",
            {"blocks": [{"source": "x = 1"}, {"kind": "markdown", "source": "# t"}]},
        )
        assert status == 201, created
    finally:
        assert server.stop() == 0, server.log()

    server.start()
    try:
        status, listed = server.request("GET", "ai-notebook/api/projects")
        assert status == 200
        assert [(p["id"], p["name"]) for p in listed["items"]] == [(pid, "kept")]
        status, blocks = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks")
        assert [(b["kind"], b["source"]) for b in blocks["items"]] == [
            ("code", "x = 1"),
            ("markdown", "# t"),
        ]
    finally:
        assert server.stop() == 0, server.log()
    assert tracebacks(server.log()) == [], server.log()
