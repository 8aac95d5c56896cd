"""A real server process: agent conversations survive restarts; a turn the server left
(a crash while it waited for an approval, or a clean stop) ends interrupted, and the
conversation goes on."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from agent_script import Model, events_of
from ai_server import ScriptedServer
from server_process import ServerProcess, tracebacks


def post_message(server, pid, cid, text):
    req = urllib.request.Request(
        server.url + f"ai-notebook/api/projects/{pid}/agent/conversations/{cid}/messages",
        data=json.dumps({"content": text}).encode(),
        method="POST",
    )
    req.add_header("Authorization", f"token {server.token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return events_of(resp.read())


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met")


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_conversations_survive_a_restart(tmp_path, db_url, how):
    model = Model("openai", True)
    with ScriptedServer() as upstream:
        config = {
            "AINotebookApp": {
                "openai_api_key": "sk-restart",
                "openai_base_url": upstream.url + "/v1",
                "ai_default_model": "openai:test-model",
                "ai_retries": 0,
            }
        }
        server = ServerProcess(tmp_path, db_url, extra_config=config).start()
        base = ""
        try:
            _, project = server.request("POST", "ai-notebook/api/projects", {"name": "p"})
            pid = project["id"]
            base = f"ai-notebook/api/projects/{pid}/agent/conversations"
            status, conv = server.request("POST", base, {"mode": "ask", "title": "kept"})
            assert status == 201, conv
            cid = conv["id"]
            upstream.script(model.calls(("list_blocks", {})), model.answer("Empty project."))
            events = post_message(server, pid, cid, "what is here?")
            assert events[-1]["status"] == "answered"
            # A second turn waits for an approval when the server goes away.
            upstream.script(model.calls(("create_block", {"source": "x = 1"})))
            threading.Thread(
                target=lambda: _ignore(post_message, server, pid, cid, "make x"), daemon=True
            ).start()

            def pending():
                _, detail = server.request("GET", f"{base}/{cid}")
                return [a for a in detail["approvals"] if a["status"] == "pending"]

            wait_for(pending)
        finally:
            if how == "kill":
                server.kill()
            else:
                assert server.stop() == 0, server.log()

        server.start()
        try:
            status, detail = server.request("GET", f"{base}/{cid}")
            assert status == 200, detail
            assert detail["title"] == "kept"
            assert detail["state"] == "idle"
            assert detail["turns"] == 2
            roles = [(m["turn"], m["role"], m["status"]) for m in detail["messages"]]
            assert roles[:5] == [
                (1, "user", "complete"),
                (1, "assistant", "complete"),
                (1, "tool", "complete"),
                (1, "assistant", "complete"),
                (2, "user", "complete"),
            ]
            assert detail["messages"][3]["content"] == "Empty project."
            assert detail["messages"][2]["tool_name"] == "list_blocks"
            # The unfinished turn: its call answered as not run, the turn interrupted.
            last_tool = [m for m in detail["messages"] if m["role"] == "tool"][-1]
            assert last_tool["tool_name"] == "create_block"
            assert last_tool["is_error"]
            assert detail["messages"][-1]["status"] == "interrupted"
            assert [a["status"] for a in detail["approvals"]] == ["expired"]
            # The conversation goes on.
            upstream.script(model.answer("Still here."))
            events = post_message(server, pid, cid, "hello again")
            assert events[-1]["status"] == "answered"
            sent = upstream.requests[-1]["body"]["messages"]
            assert [m["role"] for m in sent].count("user") == 3
        finally:
            assert server.stop() == 0, server.log()
        assert tracebacks(server.log()) == [], server.log()


def _ignore(fn, *args):
    try:
        fn(*args)
    except Exception:  # the server went away under the request: expected
        return
