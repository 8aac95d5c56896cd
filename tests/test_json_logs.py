"""JSON logs (AINotebookApp.log_json) of a real server process: every line of ours
parses, carries the request id the client sent (X-Request-Id, echoed back) and the run
and project ids of an execute; secrets and the query string never appear."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess

SECRET = "sk-json-logs-secret-0123456789"


def call(
    server: ServerProcess,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, Any, Any]:
    data = None if body is None else json.dumps(body).encode()
    url = server.url + "ai-notebook/api/" + path + query
    req = urllib.request.Request(url, data=data, method=method)
    if not query:
        req.add_header("Authorization", f"token {server.token}")
    req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else None, resp.headers
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        return err.code, json.loads(text) if text else None, err.headers


@pytest.fixture
def server(tmp_path: Path) -> Any:
    proc = ServerProcess(
        tmp_path,
        f"sqlite:///{tmp_path / 'ainb.db'}",
        extra_config={"AINotebookApp": {"log_json": True, "openai_api_key": SECRET}},
    )
    proc.start()
    yield proc
    proc.stop()


def records(text: str) -> list[dict[str, Any]]:
    """Our JSON lines (Jupyter Server's own lines keep their text format)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_log_lines_are_json_with_request_and_run_ids(server: ServerProcess) -> None:
    status, project, _ = call(server, "POST", "projects", {"name": "logs"})
    assert status == 201, project
    pid = project["id"]
    status, block, _ = call(server, "POST", f"projects/{pid}/blocks", {"source": "x = 1"})
    assert status == 201, block
    status, run, headers = call(
        server,
        "POST",
        f"projects/{pid}/blocks/{block['id']}/execute?wait=true",
        headers={"X-Request-Id": "req-execute-42"},
    )
    assert status == 200, run
    assert run["status"] == "succeeded"
    assert headers["X-Request-Id"] == "req-execute-42"
    status, _, headers = call(server, "GET", "projects/999999")
    assert status == 404
    missing_id = headers["X-Request-Id"]
    assert missing_id
    status, _, _ = call(server, "GET", "projects", query=f"?token={server.token}")
    assert status == 200
    server.stop()

    log = server.log()
    ours = records(log)
    assert ours
    for record in ours:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["logger"].startswith("ai_notebook_ext")
    of_run = [r for r in ours if r.get("run_id") == run["id"]]
    assert of_run, ours
    assert all(r["project_id"] == pid for r in of_run)
    assert any(r.get("request_id") == "req-execute-42" for r in of_run)
    access = [r for r in ours if r["logger"] == "ai_notebook_ext.api"]
    execute = next(r for r in access if r.get("request_id") == "req-execute-42")
    assert (execute["method"], execute["status"]) == ("POST", 200)
    assert execute["run_id"] == run["id"]
    refused = next(r for r in access if r.get("request_id") == missing_id)
    assert (refused["status"], refused["error"]) == (404, "not_found")
    assert SECRET not in log
    assert not [r for r in ours if server.token in json.dumps(r)]
