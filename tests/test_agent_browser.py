"""The agent chat panel in a real JupyterLab with a scripted OpenAI-protocol model: a
message streams, a tool card appears, the approval asked in `ask` mode is clicked, the new
block appears in the project notebook, its run (approved too) shows its output, the final
answer shows; a second tab on the same project watches the agent work live."""

from __future__ import annotations

import re
import threading
from collections import deque
from pathlib import Path
from typing import Any

from agent_script import Model, tool_results
from ai_server import ScriptedServer, Step
from browser import RUN_TIMEOUT, chromium, lab_server, mentions_us, run_command, screenshot

MODELS = {
    "object": "list",
    "data": [{"id": "test-model", "object": "model", "created": 1, "owned_by": "test"}],
}
SOURCE = 'print("hello")'


class Requests(list):
    """The scripted server's request log, each request tagged with its handler thread."""

    def append(self, item: Any) -> None:
        item["thread"] = threading.get_ident()
        super().append(item)


class Script(deque):
    """The scripted server's steps: GETs (the provider health check listing models) are
    answered without taking a step, so only chat requests follow the script."""

    def __init__(self, server: ScriptedServer) -> None:
        super().__init__()
        self.server = server
        server.requests = Requests()

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Any:
        me = threading.get_ident()
        mine = [r for r in self.server.requests if r["thread"] == me]
        if mine and mine[-1]["method"] == "GET":
            return Step(body=MODELS)
        return super().popleft() if len(self) else Step(500, {"error": "no step"})


def agent_config(url: str) -> dict[str, Any]:
    return {
        "openai_api_key": "sk-browser",
        "openai_base_url": url + "/v1",
        "gemini_api_key": "",
        "ollama_host": "http://127.0.0.1:9",  # nothing listens: not reachable, at once
        "ai_default_model": "openai:test-model",
        "ai_retries": 0,
        "agent_stream": True,
    }


def cells(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")


def test_chat_panel_streams_asks_and_adds_a_block(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with ScriptedServer() as upstream:
        upstream.steps = Script(upstream)
        model = Model("openai", stream=True)
        upstream.script(
            model.calls(
                ("create_block", {"source": SOURCE}),
                text="I will add a block that prints **hello**.",
            ),
            lambda body: model.calls(
                ("run_block", {"block_id": tool_results("openai", body)[-1]["id"]}),
                text="Now I run it.",
            ),
            lambda body: model.answer(
                f"Done: the new block prints `{tool_results('openai', body)[-1]['output']}`."
            ),
        )
        with (
            lab_server(tmp_path, app_config=agent_config(upstream.url)) as server,
            chromium(server) as browser,
        ):
            status, project = server.request(
                "POST", "ai-notebook/api/projects", {"name": "Greetings"}
            )
            assert status == 201, project
            pid = project["id"]
            server.request(
                "POST",
                f"ai-notebook/api/projects/{pid}/blocks/bulk",
                {"blocks": [{"source": "greeting = 'hi'"}]},
            )

            # --- a second tab on the project, watching
            watcher = browser.page(width=1200, height=800)
            run_command(watcher, "ai-notebook:open-agent", {"projectId": pid})
            expect(watcher.locator("#ainb-agent-panel textarea.ainb-agent-input")).to_be_visible()

            page = browser.page(width=1500, height=900)
            assert run_command(page, "ai-notebook:open-agent", {"projectId": pid}) == (
                "ainb-agent-panel"
            )
            panel = page.locator("#ainb-agent-panel")
            expect(cells(page)).to_have_count(1)
            # the model picker is filled from /ai/providers; no "no provider" notice
            expect(panel.locator("select.ainb-agent-model option")).to_contain_text(
                ["default model", "openai:test-model"]
            )
            expect(panel.locator(".ainb-agent-empty")).to_have_count(0)
            expect(panel.locator("select.ainb-agent-mode")).to_have_value("ask")

            box = panel.locator("textarea.ainb-agent-input")
            box.click()
            page.keyboard.type("add a block that prints hello")
            page.keyboard.press("Shift+Enter")  # a new line, not sent
            page.keyboard.press("Backspace")
            page.keyboard.press("Enter")

            expect(panel.locator('.ainb-agent-message[data-role="user"]')).to_have_text(
                "add a block that prints hello"
            )
            answer = panel.locator('.ainb-agent-message[data-role="assistant"]')
            expect(answer.first).to_contain_text("I will add a block that prints hello")
            expect(answer.first.locator("strong")).to_have_text("hello")  # markdown
            card = panel.locator('.ainb-agent-tool[data-tool="create_block"]')
            expect(card).to_be_visible()
            expect(card).to_have_attribute("data-status", "waiting")
            approval = panel.locator('.ainb-agent-approval[data-approval-id="1"]')
            expect(approval).to_contain_text("create a block")
            expect(approval.locator(".ainb-agent-diff")).to_contain_text(SOURCE)
            expect(panel.locator("button.ainb-agent-stop")).to_be_visible()

            # the watcher sees the same turn live, with the approval card
            watched = watcher.locator("#ainb-agent-panel")
            expect(watched.locator('.ainb-agent-tool[data-tool="create_block"]')).to_be_visible()
            expect(watched.locator("button.ainb-agent-approve")).to_be_visible()

            panel.locator("button.ainb-agent-approve").click()
            expect(approval).to_have_attribute("data-status", "approved")
            expect(card).to_have_attribute("data-status", "done")
            expect(cells(page)).to_have_count(2)
            expect(cells(page).nth(1)).to_contain_text(SOURCE)

            # the run asks too; once approved, its card shows the status and output
            run_card = panel.locator('.ainb-agent-tool[data-tool="run_block"]')
            expect(run_card).to_have_attribute("data-status", "waiting")
            pending = panel.locator('.ainb-agent-approval[data-status="pending"]')
            expect(pending).to_contain_text("run block")
            pending.locator("button.ainb-agent-approve").click()
            expect(run_card).to_have_attribute("data-status", "done", timeout=RUN_TIMEOUT)
            expect(run_card.locator(".ainb-agent-run-status")).to_have_text("run succeeded")
            expect(run_card.locator(".ainb-agent-output")).to_have_text("hello")
            expect(answer.last).to_contain_text("Done: the new block prints hello")
            expect(panel.locator("button.ainb-agent-stop")).to_be_hidden()
            stdout = cells(page).nth(1).locator('.jp-OutputArea-output[data-mime-type$="stdout"]')
            expect(stdout).to_have_text("hello")
            expect(
                watched.locator('.ainb-agent-message[data-role="assistant"]').last
            ).to_contain_text("Done: the new block prints hello")

            # the cards open on the diff / the output and link to the block
            card.locator("summary").click()
            run_card.locator("summary").click()
            expect(card.locator(".ainb-agent-diff")).to_contain_text(SOURCE)
            link = card.locator("a.ainb-agent-show-block")
            expect(link).to_be_visible()
            cells(page).first.click()
            link.click()
            expect(cells(page).nth(1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
            page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
            page.evaluate(
                "() => document.querySelectorAll('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                ".forEach(n => { n.scrollTop = 0; })"
            )
            page.mouse.move(0, 0)
            screenshot(page, "agent-panel", tmp_path)

            # a slow answer: Stop cancels the turn
            upstream.script(Step(body=MODELS, delay=8))
            box.fill("and now something slow")
            box.press("Enter")
            stop = panel.locator("button.ainb-agent-stop")
            expect(stop).to_be_visible()
            stop.click()
            expect(panel.locator('.ainb-agent-message[data-role="status"]').last).to_have_text(
                "Stopped."
            )
            expect(stop).to_be_hidden()
            expect(panel.locator("textarea.ainb-agent-input")).to_be_enabled()

            # what the model was sent: the tool result of the approved call
            chats = [r for r in upstream.requests if r["method"] == "POST"]
            assert len(chats) in (3, 4)  # the cancelled turn may not have called it yet
            assert tool_results("openai", chats[2]["body"])[-1]["status"] == "succeeded"
            _, body = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks")
            assert [b["source"] for b in body["items"]] == ["greeting = 'hi'", SOURCE]
            ours = [e for e in browser.console_errors if mentions_us(e)]
            assert not ours, ours
