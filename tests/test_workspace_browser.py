"""The project workspace in a real JupyterLab, driven by Chromium as a user would.

A project opens as a notebook in the main area: blocks are typed and run with
Shift+Enter through the project's execute API, an upstream edit turns dependents stale,
"Stale" in the toolbar runs them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser import (
    PANEL_ID,
    RUN_TIMEOUT,
    chromium,
    lab_server,
    mentions_us,
    screenshot,
)


def cells(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")


def type_in_cell(page: Any, index: int, text: str) -> None:
    editor = cells(page).nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def blocks(server: Any, project_id: int) -> list[dict[str, Any]]:
    status, body = server.request("GET", f"ai-notebook/api/projects/{project_id}/blocks")
    assert status == 200, body
    return body["items"]


def test_author_run_and_staleness(tmp_path: Path) -> None:
    with lab_server(tmp_path) as server, chromium(server) as browser:
        page = browser.page()
        from playwright.sync_api import expect

        # --- create a project from the sidebar: it opens in the main area
        page.locator(f'li[data-id="{PANEL_ID}"]').click()
        panel = page.locator(f"#{PANEL_ID}")
        expect(panel.locator(".ainb-projects-empty")).to_be_visible()
        panel.locator("input.ainb-new-project-name").fill("Sales analysis")
        panel.locator("button.ainb-create-project").click()
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Sales analysis")
        expect(tab).to_be_visible()
        status, body = server.request("GET", "ai-notebook/api/projects")
        project_id = body["items"][0]["id"]
        expect(cells(page)).to_have_count(1)

        # --- type three blocks, run each with Shift+Enter
        type_in_cell(page, 0, "a = 1")
        page.keyboard.press("Shift+Enter")
        expect(cells(page)).to_have_count(2)
        page.keyboard.type("b = a + 1")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("print(b * 2)")
        page.keyboard.press("Shift+Enter")
        third = cells(page).nth(2)
        stdout = third.locator('.jp-OutputArea-output[data-mime-type$="stdout"]')
        try:
            expect(stdout).to_have_text("4", timeout=RUN_TIMEOUT)
        finally:
            screenshot(page, "debug", tmp_path)
            print("RUNS", server.request("GET", f"ai-notebook/api/projects/{project_id}/runs"))
            print("BLOCKS", blocks(server, project_id))
        for i in range(3):
            expect(cells(page).nth(i)).to_have_attribute("data-state", "fresh")
        saved = blocks(server, project_id)
        assert [b["source"] for b in saved][:3] == ["a = 1", "b = a + 1", "print(b * 2)"]
        ids = [str(b["id"]) for b in saved[:3]]
        assert [cells(page).nth(i).get_attribute("data-block-id") for i in range(3)] == ids
        screenshot(page, "workspace-fresh", tmp_path)

        # --- edit the upstream block: its dependents turn stale
        type_in_cell(page, 0, "a = 10")
        page.keyboard.press("Escape")
        expect(cells(page).nth(1)).to_have_attribute("data-state", "stale")
        expect(cells(page).nth(2)).to_have_attribute("data-state", "stale")
        badge = cells(page).nth(2).locator(".ainb-state-badge")
        expect(badge).to_have_text("stale")
        assert "upstream" in (badge.get_attribute("title") or "")
        screenshot(page, "workspace-stale", tmp_path)

        # --- run the stale ones from the toolbar
        page.locator(".ainb-tb-run-stale button, button.ainb-tb-run-stale").first.click()
        expect(stdout).to_have_text("22", timeout=RUN_TIMEOUT)
        for i in range(3):
            expect(cells(page).nth(i)).to_have_attribute("data-state", "fresh")

    ours = [e for e in browser.console_errors if mentions_us(e)]
    assert not ours, "console errors from the extension:\n" + "\n".join(ours)
